"""The exercises as data, for answer boxes on a page with no kernel.

The website's self-check boxes (tools/selfcheck.py builds them into each
exercise page) judge a typed answer in the browser.  They take everything
they know from here, computed at build time from the question definitions
in `scalebook.exercises.chNN`: the expected value, the tolerance, the unit,
and every known wrong answer with its hint (a factor hint becomes the wrong
value it stands for).  There is no second list of hints: a hint added to a
chapter module reaches the box on the next build.

An item whose answer is code, or whose expected value is read from a
program compiled on the reader's machine (bytes or FLOPs from XLA, a
collective in the HLO), is marked ``run``: the box sends the reader to
Jupyter or Colab, where `sb.check` can run it.

`spec(question)` returns plain JSON-able dicts::

    {"kind": "number", "qid", "unit", "rtol", "expected",
     "hints": [{"target", "rtol", "message"}]}
    {"kind": "choice", "qid", "options", "expected" (the option's stem),
     "hints": [{"stem", "message"}]}
    {"kind": "shape", "qid", "expected", "hints": [{"value", "message"}]}
    {"kind": "parts", "qid", "parts": [{"key", "spec"}]}
    {"kind": "run", "qid", "why": "code" | "measured"}

`rules()` gives what the browser needs to read a choice as Python does
(`grading.SYNONYMS`, the words that keep their own meaning) and the
messages shared by every item.  Exercises: every chapter's exercise page.
"""
from __future__ import annotations

import math
import sys
from typing import Any

from scalebook import choices, codepredict, grading, questions
from scalebook.grading import (Choice, Custom, Number, Parts, Question,
                               Shape)

_COMPILED = frozenset({"lower", "compile", "as_text", "cost_analysis",
                       "memory_analysis"})


def _reads_a_compiled_program(fn) -> tuple[Any, bool]:
    """Call `fn()`; return its value and whether it lowered, compiled or
    read a compiled XLA program on the way (`jax.stages`)."""
    seen: list[bool] = []

    def watch(frame, event, arg):
        if (event == "call" and not seen
                and frame.f_code.co_name in _COMPILED
                and frame.f_globals.get("__name__") == "jax._src.stages"):
            seen.append(True)

    old = sys.getprofile()
    sys.setprofile(watch)
    try:
        value = fn()
    finally:
        sys.setprofile(old)
    return value, bool(seen)


def _forget_cached_programs(qid: str) -> None:
    """Clear the chapter module's caches, so that a value read from a
    compiled program is recognised as such even when an earlier question
    compiled it (5.6's two parts read one program)."""
    import importlib

    chapter = qid.split(".")[0]
    mod = importlib.import_module(f"scalebook.exercises.ch{int(chapter):02d}")
    for value in list(vars(mod).values()):
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()
    codepredict._EMITTED.clear()


def _number(q: Number, want: float) -> dict:
    hints = []
    for h in q.hints:
        target = h.target(want)
        if target is not None:
            hints.append({"target": float(target),
                          "rtol": float(h.rtol or q.rtol),
                          "message": h.message})
    return {"kind": "number", "qid": q.qid, "unit": q.unit,
            "rtol": float(q.rtol), "expected": float(want), "hints": hints,
            # a PASS also allows a float32's rounding of a huge whole number
            "rtol_pass": max(float(q.rtol), questions._float32_rounding(want)),
            "miss": q.miss}


def _choice(q: Choice, want: Any) -> dict:
    stem = choices._stem(q._must_be_option(want))
    hints = [{"stem": choices._stem(q._must_be_option(h.value)),
              "message": h.message} for h in q.hints if h.value is not None]
    return {"kind": "choice", "qid": q.qid, "options": list(q.options),
            "expected": stem, "hints": hints}


def _shape(q: Shape, want: Any) -> dict:
    hints = [{"value": [int(v) for v in h.value], "message": h.message}
             for h in q.hints if h.value is not None]
    return {"kind": "shape", "qid": q.qid,
            "expected": [int(v) for v in want], "hints": hints}


def spec(q: Question) -> dict:
    """The question `q` as data for an answer box (see the module doc)."""
    if isinstance(q, Custom) or isinstance(q, codepredict.Predict):
        why = "code" if isinstance(q, Custom) else "measured"
        return {"kind": "run", "qid": q.qid, "why": why}
    if isinstance(q, Parts):
        parts = [{"key": k, "spec": spec(p)} for k, p in q.parts.items()]
        if all(p["spec"]["kind"] == "run" for p in parts):
            return {"kind": "run", "qid": q.qid, "why": "measured"}
        return {"kind": "parts", "qid": q.qid, "parts": parts}
    _forget_cached_programs(q.qid)
    want, measured = _reads_a_compiled_program(q._expected_value)
    if measured:
        return {"kind": "run", "qid": q.qid, "why": "measured"}
    # Grading the expected answer builds any hints made on first use, and
    # proves the data right before a reader depends on it.
    fb = q.grade(want)
    if not fb.passed:
        raise ValueError(f"exercise {q.qid}: its own expected value does "
                         f"not pass ({fb})")
    if isinstance(q, Number):
        return _number(q, want)
    if isinstance(q, Choice):
        return _choice(q, want)
    if isinstance(q, Shape):
        return _shape(q, want)
    raise TypeError(f"exercise {q.qid}: no answer box for a "
                    f"{type(q).__name__}; add it to scalebook.selfcheck")


def chapter_specs(chapter: int | str) -> dict[str, dict]:
    """Every question of `chapter` as box data, by question id."""
    return {qid: spec(grading.question(qid))
            for qid in grading.chapter_questions(chapter)}


UNIT, ANSWER, OPTIONS, MISS = ("\u2983unit\u2984", "\u2983answer\u2984",
                               "\u2983options\u2984", "\u2983miss\u2984")
"""Placeholders in the message templates that `rules` reads off grading."""


def _messages() -> dict[str, str]:
    """grading's own wording of the messages that are not hints, with
    placeholders the browser fills in: asked of grading, not copied."""
    d = questions._direction
    probe = Choice("0.0", "a", options=("a", "b"))
    listing = probe._listing()
    return {
        "sign": d(-1.0, 1.0),
        "far_large_unit": d(100.0, 1.0, UNIT), "far_small_unit": d(0.001, 1.0,
                                                                   UNIT),
        "far_large": d(100.0, 1.0), "far_small": d(0.001, 1.0),
        "near_large": d(2.0, 1.0, "", MISS), "near_small": d(0.5, 1.0, "",
                                                              MISS),
        "default_miss": d(2.0, 1.0).split(d(2.0, 1.0, "", MISS).split(
            MISS)[0], 1)[1],
        "not_finite": Number("0.0", 1.0).grade(math.inf).message,
        "no_option": probe.grade(ANSWER).message.replace(repr(ANSWER),
                                                         ANSWER)
        .replace(listing, OPTIONS),
        "other_option": probe.judge("b").message,
    }


def rules() -> dict:
    """What every box shares: how choices are read, the status labels and
    the messages that are not hints (with UNIT, ANSWER, OPTIONS and MISS
    as placeholders)."""
    return {
        "synonyms": {g: list(ws) for g, ws in grading.SYNONYMS.items()},
        "only_itself": sorted(choices._OPTION_ONLY_ITSELF),
        "aliases": dict(grading.ALIASES),
        "trailing": list(choices._TRAILING),
        "labels": dict(grading.LABELS),
        "messages": _messages(),
        "placeholders": {"unit": UNIT, "answer": ANSWER, "options": OPTIONS,
                         "miss": MISS},
    }


def hint_count(s: dict) -> int:
    """How many named-mistake hints a box reproduces."""
    if s["kind"] == "parts":
        return sum(hint_count(p["spec"]) for p in s["parts"])
    return len(s.get("hints", ()))


def checkable(s: dict) -> bool:
    """Whether the box can judge at least part of the item."""
    return s["kind"] != "run"
