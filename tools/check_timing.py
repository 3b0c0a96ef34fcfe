"""Time every exercise check the way a reader's kernel runs it.

For each exercise notebook, a fresh Python process runs the solution
notebook's code cells in order, as the student copy has them (cells tagged
``solution`` are dropped, as tools/student.py drops them), and times each
``sb.check(...)`` cell twice: its first call in that kernel and a second,
later call.  ``--wrong`` runs the same cells with each answer made wrong
(numbers scaled, another option for a choice, a function whose results are
scaled) before it is checked, so a check's wrong-answer path is timed too.
The first check of a process also pays for loading the chapter's module:
the table marks it.

usage: python tools/check_timing.py [--wrong] [--json FILE] [NOTEBOOK ...]
  (default: every exercises/NN_*.ipynb; run from the repository root with
  PYTHONPATH=$PWD/lib)
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECK = re.compile(r'^\s*sb\.check\(\s*"([^"]+)"\s*,\s*(.+)\)\s*$', re.S)


def _cells(notebook: pathlib.Path) -> list[str]:
    nb = json.loads(notebook.read_text())
    out = []
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] != "code" or "solution" in tags:
            continue
        out.append("".join(cell["source"]))
    return out


def _wrong(value, q):
    """A wrong answer of the same kind as `value` to question `q`."""
    import functools
    import inspect

    import numpy as np

    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        options = [o for o in getattr(q, "options", ())
                   if o.lower() != value.lower()]
        return options[0] if options else value + "?"
    if isinstance(value, int):
        return value * 3 + 1
    if isinstance(value, float):
        return value * 3 + 1.0
    if isinstance(value, dict):
        parts = getattr(q, "parts", {})
        return {k: _wrong(v, parts.get(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_wrong(v, q) for v in value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return np.asarray(value) * 3 + 1
    if inspect.isclass(value):
        return value  # a class: no generic way to break it
    if callable(value):
        @functools.wraps(value)
        def broken(*args, **kwargs):
            return _scaled(value(*args, **kwargs))
        return broken
    return value


def _scaled(out):
    if out is None or isinstance(out, (bool, str)):
        return out
    if isinstance(out, (int, float)):
        return out * 3 + 1
    if isinstance(out, dict):
        return {k: _scaled(v) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return type(out)(_scaled(v) for v in out)
    if hasattr(out, "shape") and hasattr(out, "dtype"):
        return out * 3 + 1
    return out


def run_notebook(notebook: pathlib.Path, wrong: bool) -> list[dict]:
    """Run in this process (a fresh one): one row per check cell."""
    import contextlib
    import io

    ns: dict = {"__name__": "__main__", "display": print}
    rows = []
    first_check = True
    for src in _cells(notebook):
        m = CHECK.match(src)
        if not m:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(src, str(notebook), "exec"), ns)
            continue
        qid, expr = m.group(1), m.group(2)
        answer = eval(expr, ns)
        if wrong:
            from scalebook import grading
            answer = _wrong(answer, grading.question(qid))
        sb = ns["sb"]
        times, labels = [], []
        for _ in range(2):
            buf = io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(buf):
                sb.check(qid, answer)
            times.append(time.perf_counter() - t0)
            line = buf.getvalue().strip().splitlines()
            labels.append(re.sub(r"^\[([^\]]+)\].*", r"\1", line[0])
                          if line else "?")
        rows.append(dict(qid=qid, wrong=wrong, first_s=times[0],
                         later_s=times[1], label=labels[0],
                         first_in_process=first_check))
        first_check = False
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*")
    ap.add_argument("--wrong", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    books = [pathlib.Path(n) for n in args.notebooks] or sorted(
        (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
    if args.inner:  # one notebook, in this fresh process
        rows = run_notebook(books[0], args.wrong)
        print("ROWS " + json.dumps(rows))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, SCALEBOOK_PROGRESS=str(
            pathlib.Path(tmp) / "progress.json"))
        for nb in books:
            cmd = [sys.executable, str(pathlib.Path(__file__).resolve()),
                   "--inner", str(nb.resolve())] + (
                       ["--wrong"] if args.wrong else [])
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=env, cwd=tmp)
            got = [ln for ln in out.stdout.splitlines()
                   if ln.startswith("ROWS ")]
            if out.returncode or not got:
                print(f"{nb.name}: failed\n{out.stderr[-3000:]}",
                      file=sys.stderr)
                continue
            for r in json.loads(got[-1][5:]):
                rows.append(r)
                flag = " (first check in process)" if r[
                    "first_in_process"] else ""
                print(f"{r['qid']:>6} {'wrong' if r['wrong'] else 'right'}"
                      f" {r['first_s']:7.2f} {r['later_s']:7.2f} "
                      f"{r['label']}{flag}", flush=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
