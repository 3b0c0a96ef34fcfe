"""The exercise checker's front: the registry of questions, `sb.check`
and `sb.progress`.

Question definitions live in ``scalebook.exercises.chNN``; notebooks call
``sb.check("1.3", answer)``.  The checker's pieces, one job each:

- `scalebook.feedback`: the statuses (PASS, NOT YET, NOT ATTEMPTED, WRONG
  TYPE, TIMED OUT, SET-UP NEEDED, BOOK BUG) and `Feedback`;
- `scalebook.answers`: reading a reader's number or shape;
- `scalebook.questions`: the question types (`Number`, `Shape`, `Parts`,
  `Custom`), and `scalebook.choices` (`Choice` and its synonyms);
- `scalebook.hints`: known wrong answers; `scalebook.readercode`: the
  reader's code (stub, time limit, captured prints, whose error).

Their public names are importable from here too, as the chapters'
exercise modules import them.
"""
from __future__ import annotations

from typing import Any

from scalebook.answers import as_number, as_shape, returned_number
from scalebook.choices import ALIASES, SYNONYMS, Choice
from scalebook.feedback import (BAD_TYPE, BLANK, BLANK_MESSAGE, BUG, FAIL,
                                LABELS, PASS, PASS_LINE, SETUP, TIMEOUT,
                                AnswerError, Feedback, is_blank,
                                without_value)
from scalebook.hints import Hint, off_by, wrong_value
from scalebook.questions import Custom, Number, Parts, Question, Shape
from scalebook.readercode import RETURNED_NONE, is_stub

__all__ = [
    "PASS", "FAIL", "BLANK", "BAD_TYPE", "BUG", "TIMEOUT", "SETUP",
    "LABELS", "BLANK_MESSAGE", "PASS_LINE", "Feedback", "AnswerError",
    "is_blank", "without_value", "as_number", "as_shape",
    "returned_number", "Question", "Number", "Shape", "Parts", "Custom",
    "Choice", "SYNONYMS", "ALIASES", "Hint", "off_by", "wrong_value",
    "RETURNED_NONE", "is_stub", "register", "question",
    "chapter_questions", "grade", "check", "progress",
]


_REGISTRY: dict[str, Question] = {}


def register(*questions: Question) -> None:
    """Add questions to the registry (ids must be unique)."""
    for q in questions:
        if q.qid in _REGISTRY and _REGISTRY[q.qid] is not q:
            raise ValueError(f"exercise id {q.qid!r} is defined twice")
        _REGISTRY[q.qid] = q
        q.registered()


def question(qid: str) -> Question:
    """The question with id `qid` ("1.3" is exercise 3 of chapter 1).

    Loads `scalebook.exercises.chNN` on first use. Only a missing chapter
    module means "no such exercise"; any other import error in it (a bug
    in the book) is raised as it is.
    """
    qid = str(qid)
    chapter = qid.split(".")[0]
    _load_chapter(chapter)
    if qid not in _REGISTRY:
        raise KeyError(f"no exercise {qid!r}; known in chapter {chapter}: "
                       + (", ".join(chapter_questions(chapter)) or "none"))
    return _REGISTRY[qid]


def _load_chapter(chapter: str) -> None:
    if chapter.isdigit():
        import importlib

        name = f"scalebook.exercises.ch{int(chapter):02d}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


def chapter_questions(chapter: str | int) -> list[str]:
    """Ids of the registered questions of `chapter`, in exercise order."""
    chapter = str(chapter)
    _load_chapter(chapter)
    return sorted((k for k in _REGISTRY if k.split(".")[0] == chapter),
                  key=lambda k: [int(p) if p.isdigit() else p
                                 for p in k.split(".")])


def grade(qid: str, answer: Any) -> Feedback:
    """Grade `answer` to exercise `qid` and return the feedback."""
    return question(qid).grade(answer)


_LAST: dict[str, Feedback] = {}
"""The latest feedback per exercise in this Python session; the ledger
(`scalebook.ledger`) keeps the attempts across sessions."""


def check(qid: str, answer: Any) -> None:
    """Grade and print the feedback (returns None, so nbval sees one line);
    the outcome is recorded in the progress ledger (`scalebook.ledger`)
    and counts towards `progress`.  A ledger that cannot be written prints
    a note and changes nothing else."""
    from scalebook import __version__, ledger

    fb = grade(qid, answer)
    _LAST[str(qid)] = fb
    print(fb)
    note = ledger.record(str(qid), fb.status, __version__)
    if note:
        print(note)


def _session_and_ledger() -> tuple[dict[str, str], set[str], dict[str, str],
                                   str | None]:
    """(latest label per qid, qids ever passed, last attempt time per qid,
    a note when the ledger could not be read), this session's results
    merged with the ledger's."""
    from scalebook import ledger

    data, note = ledger.load()
    data = data or ledger.empty()
    last = ledger.latest(data)
    labels = {q: LABELS[a["status"]] for q, a in last.items()}
    times = {q: a["time"] for q, a in last.items()}
    passed = set(data["passed"])
    for qid, fb in _LAST.items():  # this session may be newer, or unsaved
        if fb.status != BLANK:
            labels[qid] = fb.label
        if fb.passed:
            passed.add(qid)
    return labels, passed, times, note


def progress(chapter: str | int | None = None):
    """Where the reader stands, read from the progress ledger (so it
    survives a kernel restart) and this session.

    `progress(N)`: one row per exercise of chapter N with its latest
    result (NOT ATTEMPTED if never checked), and a count of each result
    in the title.  `progress()`: one row per chapter with exercises:
    items passed of items, complete (every item has a recorded pass) and
    the time of the last attempt (UTC)."""
    from scalebook.exercises import chapters
    from scalebook.tabular import Table

    labels, passed, times, note = _session_and_ledger()
    if note:
        print(note)
    if chapter is None:
        rows, complete = [], 0
        for name in chapters():
            n = int(name[2:])
            ids = chapter_questions(n)
            done = sum(q in passed for q in ids)
            complete += done == len(ids)
            when = max((times[q] for q in ids if q in times), default="")
            rows.append([n, f"{done} of {len(ids)}",
                         "yes" if done == len(ids) else "no",
                         when.replace("T", " ")[:16] or "never"])
        return Table(["chapter", "passed", "complete", "last attempt"],
                     rows, title=f"Your progress: {complete} of {len(rows)} "
                     "chapters complete")
    ids = chapter_questions(chapter)
    if not ids:
        raise ValueError(f"chapter {chapter} has no exercises; chapters "
                         "with exercises have a module "
                         "scalebook.exercises.chNN")
    rows = [[qid, labels.get(qid, LABELS[BLANK])] for qid in ids]
    counts: dict[str, int] = {}
    for _, label in rows:
        counts[label] = counts.get(label, 0) + 1
    order = [LABELS[s] for s in (PASS, FAIL, BAD_TYPE, TIMEOUT, SETUP, BUG,
                                 BLANK)]
    summary = ", ".join(f"{counts[k]} {k.lower()}" for k in order
                        if k in counts)
    return Table(["exercise", "result"], rows,
                 title=f"Chapter {chapter}: {summary} (of {len(ids)})")
