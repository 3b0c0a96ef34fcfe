"""The progress ledger: what sb.check records, and what it does when the
file or the folder is not what it expects.  (A kernel restarted between two
checks: tests/test_progress_kernel.py.)"""
import json
import os
import pathlib
import stat

import pytest

from scalebook import grading, ledger

RIGHT_1_1 = grading.question("1.1")._expected_value()


def _ledger_file() -> pathlib.Path:
    return ledger.path()


def test_a_check_records_question_outcome_time_and_version(capsys):
    grading.check("1.1", RIGHT_1_1)
    grading.check("1.2", 1.0)
    grading.check("1.4", ...)  # blank: not an attempt
    data = json.loads(_ledger_file().read_text())
    assert data["format"] == ledger.FORMAT
    got = [(a["qid"], a["status"]) for a in data["attempts"]]
    assert got == [("1.1", "pass"), ("1.2", "fail")]
    import scalebook
    assert all(a["scalebook"] == scalebook.__version__ and a["time"]
               for a in data["attempts"])
    assert set(data["passed"]) == {"1.1"}
    out = capsys.readouterr().out
    assert "[PASS] Exercise 1.1" in out and "not saved" not in out


def test_progress_of_every_chapter_counts_passes_and_completes_only_on_all():
    grading._LAST.clear()
    ids = grading.chapter_questions(12)
    data = ledger.empty()
    for qid in ids[:-1]:
        ledger.add(data, qid, "pass", "0.1.0", "2026-12-01T10:00:00+00:00")
    ledger.add(data, ids[-1], "fail", "0.1.0", "2026-12-01T11:00:00+00:00")
    ledger.add(data, "1.1", "pass", "0.1.0", "2026-12-02T09:30:00+00:00")
    assert ledger.save(data) is None
    rows = {r[0]: r[1:] for r in grading.progress().text_rows()}
    assert rows["12"] == [f"{len(ids) - 1} of {len(ids)}", "no",
                          "2026-12-01 11:00"]
    n1 = len(grading.chapter_questions(1))
    assert rows["1"] == [f"1 of {n1}", "no", "2026-12-02 09:30"]
    assert rows["2"][1:] == ["no", "never"]
    # the last item passes: now the chapter is complete
    ledger.add(data, ids[-1], "pass", "0.1.0", "2026-12-01T12:00:00+00:00")
    ledger.save(data)
    rows = {r[0]: r[1:] for r in grading.progress().text_rows()}
    assert rows["12"][:2] == [f"{len(ids)} of {len(ids)}", "yes"]
    assert "1 of" in str(grading.progress()).splitlines()[0]


def test_a_pass_then_a_failure_still_counts_the_pass_but_shows_the_latest():
    grading._LAST.clear()
    grading.check("12.2", grading.question("12.2")._expected_value())
    grading.check("12.2", 1.0)
    grading._LAST.clear()  # as after a restart
    rows = dict(grading.progress(12).text_rows())
    assert rows["12.2"] == "NOT YET"
    row = [r for r in grading.progress().text_rows() if r[0] == "12"][0]
    assert row[1].startswith("1 of")


@pytest.mark.parametrize("content, why", [
    ("{not json", "not valid JSON"),
    ('{"tasks": [1, 2, 3]}', "not a scalebook progress ledger"),
    ('[1, 2, 3]', "not a scalebook progress ledger"),
    ('{"format": "scalebook-progress", "version": 1, "attempts": [{"q": 1}],'
     ' "passed": {}}', "malformed"),
])
def test_an_unreadable_ledger_is_set_aside_with_a_message(content, why,
                                                           capsys):
    p = _ledger_file()
    p.write_text(content)
    grading.check("1.1", RIGHT_1_1)
    out = capsys.readouterr().out
    assert out.startswith("[PASS] Exercise 1.1")
    assert why in out and "moved" in out
    aside = [f for f in p.parent.iterdir()
             if f.name.startswith(p.name + ".unreadable-")]
    assert len(aside) == 1 and aside[0].read_text() == content
    data = json.loads(p.read_text())
    assert [a["qid"] for a in data["attempts"]] == ["1.1"]


def test_a_ledger_from_a_newer_scalebook_is_left_alone(capsys):
    p = _ledger_file()
    newer = json.dumps({"format": ledger.FORMAT, "version": 99,
                        "attempts": [], "passed": {}})
    p.write_text(newer)
    grading.check("1.1", RIGHT_1_1)
    out = capsys.readouterr().out
    assert out.startswith("[PASS]") and "newer scalebook" in out
    assert "not saved" in out
    assert p.read_text() == newer


def _read_only_ledger(tmp_path) -> pathlib.Path:
    """A ledger path nobody may create: a folder without write permission,
    or, for root (who ignores permissions), a file under /proc."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(folder, os.W_OK):
        return pathlib.Path("/proc/scalebook-progress.json")
    return folder / "scalebook-progress.json"


def test_in_a_read_only_folder_the_check_works_and_says_not_saved(
        tmp_path, monkeypatch, capsys):
    target = _read_only_ledger(tmp_path)
    monkeypatch.setenv("SCALEBOOK_PROGRESS", str(target))
    grading._LAST.clear()
    grading.check("1.1", RIGHT_1_1)
    grading.check("1.2", 1.0)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[PASS] Exercise 1.1")
    assert out[1].startswith("Progress not saved: cannot write")
    assert "SCALEBOOK_PROGRESS" in out[1]
    assert out[2].startswith("[NOT YET] Exercise 1.2")
    assert not target.exists()
    # the session still knows
    rows = dict(grading.progress(1).text_rows())
    assert rows["1.1"] == "PASS" and rows["1.2"] == "NOT YET"


def test_a_write_that_fails_halfway_leaves_the_old_ledger_whole(monkeypatch):
    grading.check("1.1", RIGHT_1_1)
    p = _ledger_file()
    before = p.read_text()

    def broken_dump(data, f, **kw):
        f.write('{"format": "scalebook-progress", "attem')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ledger.json, "dump", broken_dump)
    note = ledger.record("1.2", "fail", "0.1.0")
    assert note.startswith("Progress not saved") and "No space" in note
    assert p.read_text() == before
    assert [f.name for f in p.parent.iterdir()] == [p.name], "temp file left"


def test_export_then_import_restores_progress_in_a_fresh_folder(
        tmp_path, monkeypatch):
    grading.check("1.1", RIGHT_1_1)
    grading.check("1.2", 1.0)
    exported = ledger.export(tmp_path / "mine.json")
    assert json.loads(exported.read_text())["passed"].keys() == {"1.1"}

    monkeypatch.setenv("SCALEBOOK_PROGRESS", str(tmp_path / "new" / "p.json"))
    (tmp_path / "new").mkdir()
    grading._LAST.clear()
    assert ledger.import_(exported) == 2
    assert ledger.import_(exported) == 0, "importing twice adds nothing"
    assert dict(grading.progress(1).text_rows())["1.1"] == "PASS"


def test_import_of_something_else_says_what_to_give(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a progress ledger.*"
                       "sb.progress_export"):
        ledger.import_(bad)
    with pytest.raises(ValueError, match="cannot read"):
        ledger.import_(tmp_path / "missing.json")


def test_the_package_offers_export_and_import():
    import scalebook as sb
    assert sb.progress_export is ledger.export
    assert sb.progress_import is ledger.import_


def test_site_output_of_a_check_names_no_value():
    text = ("[PASS] Exercise 12.2: correct (5449 tokens).\n"
            "[PASS] Exercise 3.11: correct. XLA:CPU emitted one all-gather "
            "moving 786,432 bytes per device.\n"
            "[NOT YET] Exercise 1.2: off by 2×.\n")
    assert grading.without_value(text) == (
        "[PASS] Exercise 12.2: correct.\n"
        "[PASS] Exercise 3.11: correct.\n"
        "[NOT YET] Exercise 1.2: off by 2×.\n")
