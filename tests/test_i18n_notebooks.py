"""The Chinese notebooks for Jupyter and Colab (chapters/zh/,
exercises/student/zh/) are generated from the catalogs: fresh, code cells
byte-identical to the English, the prose of complete pages translated, and
the student copies run blank (two of them: the shared CPU).
"""
import json
import sys

import pytest

from helpers import ROOT, SharedKernel, load, source

sys.path.insert(0, str(ROOT / "tools"))
import i18n  # noqa: E402
import translate_notebooks  # noqa: E402

LANGS = list(i18n.languages().values())


# --------------------------------------------------------------------------
# Translated notebooks

NB_LANGS = [lang for lang in LANGS if lang.notebooks]


@pytest.mark.parametrize("lang", NB_LANGS, ids=lambda lang: lang.code)
def test_translated_notebooks_are_generated_from_the_current_catalogs(lang):
    stale, _ = translate_notebooks.generate(lang, check=True)
    assert not stale, f"out of date (run `make i18n-notebooks`): {stale}"


@pytest.mark.parametrize("lang", NB_LANGS, ids=lambda lang: lang.code)
def test_translated_notebooks_keep_code_cells_byte_identical(lang):
    for _, english, translated in translate_notebooks.targets(lang):
        a, b = load(english), load(translated)
        code_a = [c for c in a["cells"] if c["cell_type"] == "code"]
        code_b = [c for c in b["cells"] if c["cell_type"] == "code"]
        assert json.dumps(code_a) == json.dumps(code_b), translated.name
        assert len(a["cells"]) == len(b["cells"])


@pytest.mark.parametrize("lang", NB_LANGS, ids=lambda lang: lang.code)
def test_complete_pages_have_98_percent_of_their_prose_translated(lang):
    _, shares = translate_notebooks.generate(lang, check=True)
    low = {p: f"{s:.1%}" for p, s in shares.items() if p in lang.pages and s < 0.98}
    assert not low, f"{lang.code}: pages declared complete with prose left English: {low}"


def test_every_message_of_a_notebook_reaches_its_translated_copy():
    """With every message translated, the generator leaves no prose English
    (so a complete catalog gives a complete notebook)."""
    import polib
    for page in ("chapters/01_rooflines", "exercises/01_rooflines"):
        catalog = i18n.language("zh_CN").catalog(page)  # its msgids: the English
        table = {e.msgid: "译" + e.msgid[-1] for e in polib.pofile(str(catalog))}
        path = ROOT / f"{page}.ipynb"
        if path.parent.name == "exercises":
            path = path.parent / "student" / path.name
        nb, done, total = translate_notebooks.translate_notebook(load(path), table, "练习")
        assert total > 1000 and done / total >= 0.98, (page, done, total)
        heads = [source(c) for c in nb["cells"] if source(c).startswith("## 练习 ")]
        assert path.parent.name != "student" or heads, page


STUDENT_RUNS = sorted(p.name for p in (ROOT / "exercises" / "student").glob("*.ipynb"))
"""Every student notebook: its translated copy runs blank too (one kernel,
so each costs its cells, about a second)."""


@pytest.fixture(scope="module")
def kernel():
    k = SharedKernel()
    yield k
    k.close()


@pytest.mark.parametrize("name", STUDENT_RUNS)
def test_a_translated_student_notebook_runs_blank(name, tmp_path, kernel):
    lang = NB_LANGS[0]
    path = ROOT / "exercises" / "student" / lang.notebooks / name
    nb = kernel.run(path, tmp_path)
    checks = [c for c in nb.cells if c.cell_type == "code" and "sb.check(" in c.source]
    assert checks
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert text.startswith("[NOT ATTEMPTED]"), (name, cell.source, text)


