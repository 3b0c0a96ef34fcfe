"""The reader's progress ledger: every checked answer, kept on disk.

`sb.check` records each attempt here (question, outcome, time, library
version), so `sb.progress()` still knows what passed after a kernel
restart.  The ledger is one small JSON file in the working directory,
``scalebook-progress.json`` (the environment variable SCALEBOOK_PROGRESS
names another file).  On Colab that directory is the session's own and is
wiped with it: `export` writes a copy to keep, `import_` merges one back.

Nothing here may break a check:

- writes are atomic (a temporary file in the same folder, then a rename),
  so a crash mid-write leaves the old ledger whole;
- a file that is not a ledger (corrupted, or another program's JSON) is
  moved aside under a new name, with a message saying where, and a fresh
  ledger is started;
- a ledger that cannot be written (a read-only folder) gives a message
  "progress not saved" and nothing else: the check itself has already run.

Every function that touches the disk returns a message for the reader, or
None when all went well, instead of raising.  Standard library only; the
tables are drawn by `scalebook.grading.progress` (Exercises: every chapter's
exercise notebook ends with it).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import pathlib
import tempfile
from typing import Any

FILENAME = "scalebook-progress.json"
ENV = "SCALEBOOK_PROGRESS"
FORMAT = "scalebook-progress"
VERSION = 1
RECORDED = ("pass", "fail", "wrong type")
"""Outcomes that count as attempts (grading's PASS, FAIL, BAD_TYPE): a
blank answer is no attempt, and a book bug is not the reader's."""
MAX_ATTEMPTS = 5000
"""The oldest attempts are dropped beyond this many; first passes are
kept apart and never dropped."""


def path() -> pathlib.Path:
    """Where the ledger lives: $SCALEBOOK_PROGRESS, else
    ./scalebook-progress.json in the current working directory."""
    return pathlib.Path(os.environ.get(ENV) or FILENAME).absolute()


def empty() -> dict:
    """A ledger with no attempts."""
    return {"format": FORMAT, "version": VERSION, "attempts": [],
            "passed": {}}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _problem(data: Any) -> str | None:
    """Why `data` is not a ledger this library can read, or None."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return "it is not a scalebook progress ledger"
    if not isinstance(data.get("version"), int):
        return "it has no format version"
    attempts, passed = data.get("attempts"), data.get("passed")
    if not isinstance(attempts, list) or not isinstance(passed, dict):
        return "its attempts or passes are missing"
    for a in attempts:
        if not (isinstance(a, dict) and isinstance(a.get("qid"), str)
                and a.get("status") in RECORDED
                and isinstance(a.get("time"), str)):
            return f"an attempt is malformed: {a!r:.80}"
    for qid, p in passed.items():
        if not (isinstance(p, dict) and isinstance(p.get("time"), str)):
            return f"the pass of {qid!r} is malformed"
    return None


def parse(text: str) -> tuple[dict | None, str | None]:
    """(ledger, None) from a file's text, or (None, why it is unusable)."""
    try:
        data = json.loads(text)
    except ValueError as err:
        return None, f"it is not valid JSON ({err})"
    why = _problem(data)
    if why is None and data["version"] > VERSION:
        return None, (f"it was written by a newer scalebook (ledger format "
                      f"{data['version']}; this one reads {VERSION})")
    return (None, why) if why else (data, None)


def _set_aside(p: pathlib.Path, why: str) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    aside = p.with_name(f"{p.name}.unreadable-{stamp}")
    try:
        os.replace(p, aside)
    except OSError as err:
        return (f"Progress not saved: {p} cannot be read ({why}) and could "
                f"not be moved aside ({err.strerror or err}). Move or delete "
                "it, or set SCALEBOOK_PROGRESS to another file.")
    return (f"Your progress file {p} could not be read ({why}). It was moved "
            f"to {aside.name} and a new ledger started; earlier results are "
            "in that file if you want them.")


def load(p: pathlib.Path | None = None) -> tuple[dict | None, str | None]:
    """Read the ledger: (ledger, message).

    A missing file is an empty ledger.  An unreadable one is moved aside
    (the message says where) and an empty ledger returned; if it cannot be
    moved, or it comes from a newer scalebook, the ledger is None: nothing
    may be written over it.
    """
    p = path() if p is None else p
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return empty(), None
    except (OSError, UnicodeDecodeError) as err:
        if isinstance(err, UnicodeDecodeError):
            return empty(), _set_aside(p, "it is not text")
        return None, (f"Progress not saved: cannot read {p} "
                      f"({err.strerror or err}).")
    data, why = parse(text)
    if data is not None:
        return data, None
    if why and why.startswith("it was written by a newer"):
        return None, f"Progress not saved: {p}: {why}. Upgrade scalebook."
    return empty(), _set_aside(p, why or "unknown problem")


def save(data: dict, p: pathlib.Path | None = None) -> str | None:
    """Write the ledger atomically; a message if it could not be saved."""
    p = path() if p is None else p
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp",
                                   dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as err:
        return (f"Progress not saved: cannot write {p} "
                f"({err.strerror or err}). Your check above still counts in "
                "this session; to keep it, run from a folder you can write "
                "to or set SCALEBOOK_PROGRESS to a writable file.")
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return None


def add(data: dict, qid: str, status: str, version: str,
        time: str | None = None) -> None:
    """Add one attempt to `data` (in memory)."""
    time = time or _now()
    data["attempts"].append({"qid": qid, "status": status, "time": time,
                             "scalebook": version})
    del data["attempts"][:-MAX_ATTEMPTS]
    if status == "pass" and qid not in data["passed"]:
        data["passed"][qid] = {"time": time, "scalebook": version}


def record(qid: str, status: str, version: str) -> str | None:
    """Append one attempt to the ledger on disk; a message for the reader
    if something went wrong (never an exception)."""
    if status not in RECORDED:
        return None
    try:
        data, note = load()
        if data is None:
            return note
        add(data, str(qid), status, version)
        saved = save(data)
        return "\n".join(m for m in (note, saved) if m) or None
    except Exception as err:  # a ledger must never break a check
        return f"Progress not saved ({type(err).__name__}: {err})."


def merge(into: dict, other: dict) -> int:
    """Add `other`'s attempts and passes to `into`; the number of attempts
    that were new."""
    seen = {(a["qid"], a["time"], a["status"]) for a in into["attempts"]}
    new = [a for a in other["attempts"]
           if (a["qid"], a["time"], a["status"]) not in seen]
    into["attempts"] = sorted(into["attempts"] + new,
                              key=lambda a: a["time"])[-MAX_ATTEMPTS:]
    for qid, p in other["passed"].items():
        mine = into["passed"].get(qid)
        if mine is None or p["time"] < mine["time"]:
            into["passed"][qid] = p
    return len(new)


def latest(data: dict) -> dict[str, dict]:
    """The latest attempt of each question: qid -> attempt."""
    out: dict[str, dict] = {}
    for a in data["attempts"]:
        if a["qid"] not in out or a["time"] >= out[a["qid"]]["time"]:
            out[a["qid"]] = a
    return out


def _in_colab() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):
        return False


def export(dest: str | os.PathLike | None = None) -> pathlib.Path:
    """Copy the ledger to `dest` (default: scalebook-progress-export.json
    beside it) and return that path.  On Colab the copy is also offered as
    a download, since the session's files vanish with it.  Restore it with
    `sb.progress_import(path)`."""
    data, note = load()
    if data is None:
        raise RuntimeError(note)
    if note:
        print(note)
    src = path()
    out = pathlib.Path(dest) if dest is not None else \
        src.with_name("scalebook-progress-export.json")
    failed = save(data, out.absolute())
    if failed:
        raise OSError(failed.replace("Progress not saved", "Not exported"))
    if _in_colab():
        from google.colab import files  # type: ignore[import-not-found]

        files.download(str(out))
    return out


def import_(source: str | os.PathLike | None = None) -> int:
    """Merge an exported ledger into this one; return how many attempts
    were new.  With no path on Colab, asks for the file to upload."""
    if source is None:
        if not _in_colab():
            raise ValueError("give the path of the exported file, e.g. "
                             "sb.progress_import('scalebook-progress-export"
                             ".json')")
        from google.colab import files  # type: ignore[import-not-found]

        uploaded = files.upload()
        if not uploaded:
            raise ValueError("no file was uploaded; run this again and "
                             "choose the exported progress file")
        text = next(iter(uploaded.values())).decode("utf-8", "replace")
        where = next(iter(uploaded))
    else:
        where = str(source)
        try:
            text = pathlib.Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read {where}: {err}; give the path of "
                             "a file written by sb.progress_export()") from err
    other, why = parse(text)
    if other is None:
        raise ValueError(f"{where} is not a progress ledger: {why}. Give a "
                         "file written by sb.progress_export().")
    data, note = load()
    if data is None:
        raise RuntimeError(note)
    if note:
        print(note)
    new = merge(data, other)
    failed = save(data)
    if failed:
        raise OSError(failed)
    return new
