"""The checker's stored reference values (scalebook.refvalues): each one is
what the book's program computes now, the locked JAX releases have them,
and a check that has them compiles nothing (issue 26: every check within
1 s after the first in a kernel)."""
from __future__ import annotations

import importlib
import json
import math
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from scalebook import refvalues

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load_chapters() -> dict:
    from scalebook.exercises import chapters

    for ch in chapters():
        importlib.import_module(f"scalebook.exercises.{ch}")
    return refvalues.registered()


def _same(a, b) -> bool:
    """Equal, floats to 1e-9 relative (or 1e-12 absolute: a gradient
    difference of 1e-7 is rounding noise either way), arrays of the same
    dtype and shape to 1e-6 of their largest entry."""
    import dataclasses

    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and a.shape == b.shape
                and np.allclose(a, b, rtol=1e-6, atol=1e-6 * float(
                    np.abs(b.astype(np.float64)).max(initial=0))))
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and _same(
            {f.name: getattr(a, f.name) for f in dataclasses.fields(a)},
            {f.name: getattr(b, f.name) for f in dataclasses.fields(b)})
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same(a[k], b[k]) for k in a))
    return type(a) is type(b) and a == b


def _locked(lock: str) -> str:
    text = (ROOT / lock).read_text()
    pins = dict(re.findall(r"^(jax|jaxlib)==(\S+)", text, re.M))
    return f"jax {pins['jax']}, jaxlib {pins.get('jaxlib', pins['jax'])}"


@pytest.mark.parametrize("lock", ["requirements.lock",
                                  "requirements-311.lock"])
def test_the_locked_jax_releases_have_every_stored_value(lock):
    names = _load_chapters()
    table = json.loads(refvalues.PATH.read_text())
    key = _locked(lock)
    assert key in table, (f"no stored reference values for {key}: run "
                          "tools/reference_values.py under that lock")
    want = {refvalues.key(n, a) for n, (_, args) in names.items()
            for a in args}
    assert set(table[key]) == want, (
        f"stored values for {key} differ from the registered ones "
        f"(missing {sorted(want - set(table[key]))}, stale "
        f"{sorted(set(table[key]) - want)}): run tools/reference_values.py")


def test_every_stored_value_is_what_the_book_computes_now():
    names = _load_chapters()
    table = json.loads(refvalues.PATH.read_text()).get(
        refvalues.version_key())
    if table is None:
        pytest.skip(f"nothing stored for {refvalues.version_key()} (a "
                    "release no lock names): the checker computes live")
    for name, (live, args) in sorted(names.items()):
        for a in args:
            k = refvalues.key(name, a)
            got = refvalues.decode(refvalues.encode(live(*a)))
            assert _same(got, refvalues.decode(table[k])), (
                f"{k}: stored {table[k]!r}, computed now {got!r}: run "
                "tools/reference_values.py")


def test_values_round_trip_with_their_types():
    import numpy as np

    v = {"a": (1, 2.5, "x"), "b": [None, True, np.float32(0.5)],
         "c": {"d": (np.int64(3),)}}
    back = refvalues.decode(json.loads(json.dumps(refvalues.encode(v))))
    assert back == {"a": (1, 2.5, "x"), "b": [None, True, 0.5],
                    "c": {"d": (3,)}}
    assert type(back["c"]["d"][0]) is int
    with pytest.raises(TypeError, match="string keys"):
        refvalues.encode({1: 2})
    with pytest.raises(TypeError, match="cannot store"):
        refvalues.encode(object())


def test_a_value_not_stored_is_computed_live_once(monkeypatch):
    calls = []

    @refvalues.stored("test.not_stored_anywhere")
    def f(x=1):
        calls.append(x)
        return x * 2

    try:
        assert f(3) == 6 and f(3) == 6 and calls == [3]
        monkeypatch.setattr(refvalues, "_table", lambda: {
            refvalues.version_key(): {
                refvalues.key("test.not_stored_anywhere", (3,)): 7}})
        assert f(3) == 7 and f(4) == 8 and calls == [3, 4]
    finally:
        refvalues._FUNCS.pop("test.not_stored_anywhere")


COUNT_COMPILES = textwrap.dedent("""
    import importlib, json, logging, sys, time
    import scalebook as sb
    sb.use_cpu_devices(8)
    import jax
    compiles = []
    class Count(logging.Handler):
        def emit(self, record):
            if "ompil" in record.getMessage():
                compiles.append(record.getMessage()[:120])
    logging.getLogger("jax").addHandler(Count())
    logging.getLogger("jax").setLevel(logging.WARNING)
    jax.config.update("jax_log_compiles", True)
""")
"""The start of a fresh-kernel script: 8 CPU devices, and every XLA
compile JAX logs appended to `compiles`."""

CHECKS_WITHOUT_COMPILING = COUNT_COMPILES + textwrap.dedent("""
    from scalebook import grading, refvalues
    answers = refvalues.decode(json.load(open(sys.argv[1])))
    out = {}
    for qid, answer in answers.items():
        q = grading.question(qid)
        del compiles[:]
        t0 = time.process_time()
        fb = q.grade(answer)
        out[qid] = (fb.status, time.process_time() - t0, list(compiles))
    print("RESULT " + json.dumps(out))
""")


def _right_values() -> dict:
    """The right answer of every question answered with a value (not a
    program), from the checker's own expected values."""
    from scalebook import grading, questions
    from scalebook.exercises import chapters

    answers = {}
    for ch in chapters():
        for qid in grading.chapter_questions(int(ch[2:])):
            q = grading.question(qid)
            parts = getattr(q, "parts", None)
            if isinstance(q, questions.Custom) or parts is not None and any(
                    isinstance(p, questions.Custom) for p in parts.values()):
                continue      # graded by running the reader's program
            answers[qid] = ({k: p._expected_value() for k, p in parts.items()}
                            if parts is not None else q._expected_value())
    return answers


def _grade_in_fresh_kernel(answers: dict, tmp_path, table=None) -> dict:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(refvalues.encode(answers)))
    env = {"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin:/bin",
           "JAX_PLATFORMS": "cpu"}
    if table is not None:
        env[refvalues.ENV] = str(table)
    proc = subprocess.run([sys.executable, "-c", CHECKS_WITHOUT_COMPILING,
                           str(path)], capture_output=True, text=True,
                          env=env, timeout=900)
    line = [ln for ln in proc.stdout.splitlines()
            if ln.startswith("RESULT ")]
    assert line, proc.stderr[-3000:]
    return json.loads(line[-1][len("RESULT "):])


def test_a_check_with_a_right_value_compiles_nothing_and_is_quick(tmp_path):
    """In a fresh kernel, grading the right value of every question that
    takes a value (not a program) compiles no JAX program, since its
    reference is stored, and takes under 1 s of CPU time (the target;
    CPU time, not wall time, so a busy machine does not make it flaky).
    Only the first check of the process (loading what every check
    shares) is exempt from the time bound."""
    out = _grade_in_fresh_kernel(_right_values(), tmp_path)
    assert len(out) > 100
    failed = {q: s for q, (s, _, _) in out.items() if s != "pass"}
    assert not failed, failed
    compiled = {q: c for q, (_, _, c) in out.items() if c}
    assert not compiled, (
        f"these checks compile a program: store their reference with "
        f"scalebook.refvalues.stored: {compiled}")
    first = next(iter(out))
    slow = {q: round(t, 2) for q, (_, t, _) in out.items()
            if t > 1.0 and q != first}
    assert not slow, f"checks over 1 s of CPU time: {slow}"


def test_the_fresh_kernel_sees_a_compile(tmp_path, monkeypatch):
    """The counting above can fail: with 4.9's stored value gone, its
    check compiles the forward pass in the fresh kernel."""
    answers = {"4.9": _right_values()["4.9"]}
    table = json.loads(refvalues.PATH.read_text())
    for entries in table.values():
        entries.pop("ch04.fwd_xla", None)
    (tmp_path / "table.json").write_text(json.dumps(table))
    out = _grade_in_fresh_kernel(answers, tmp_path, tmp_path / "table.json")
    status, _, compiles = out["4.9"]
    assert status == "pass" and compiles


CODE_CHECKS = COUNT_COMPILES + textwrap.dedent("""
    from scalebook import codegrade, grading, refvalues
    from scalebook.exercises import chapters
    out = {}
    for ch in chapters():
        for qid in grading.chapter_questions(int(ch[2:])):
            q = grading.question(qid)
            if not isinstance(q, codegrade.CodeQuestion):
                continue
            n = (len(q.task.inputs) if isinstance(q.task, codegrade.CodeTask)
                 else 2)
            args = ", ".join(f"a{i}" for i in range(n))
            ns = {}
            exec(f"def mine({args}):\\n    raise ValueError('not yet')", ns)
            del compiles[:]
            fb = q.grade(ns["mine"])
            out[qid] = (fb.status, fb.message[:200], list(compiles))
    print("RESULT " + json.dumps(out))
""")


def test_a_code_check_compiles_none_of_the_books_programs():
    """A write-the-code check builds the book's side of its task (placed
    inputs, reference result, the book's program's profile) before it runs
    the reader's function.  With a reader's function that raises as it is
    traced, nothing of the reader's is compiled, so any compile is the
    book's: there must be none, the book's side being stored."""
    env = {"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin:/bin",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", CODE_CHECKS],
                          capture_output=True, text=True, env=env,
                          timeout=900)
    line = [ln for ln in proc.stdout.splitlines()
            if ln.startswith("RESULT ")]
    assert line, proc.stderr[-3000:]
    out = json.loads(line[-1][len("RESULT "):])
    assert {"5.8", "10.1", "10.6", "14.6"} <= set(out)
    for qid, (status, message, compiles) in out.items():
        assert status == "fail" and "ValueError" in message, (qid, message)
        assert not compiles, (qid, compiles)
