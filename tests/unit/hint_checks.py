"""Shared checks for the exercise tests: each known mistake earns its own
hint, and every hint of a chapter is reached by some mistake.

A chapter's test module defines READER (qid -> a right answer worked from
the statement; for a Parts question, a dict of its parts) and MISTAKES
(qid, part or None, wrong value, words of the hint it must get).
"""
from scalebook.grading import FAIL, Parts, grade, question


def sub(qid, part):
    """The question, or one part of a Parts question."""
    q = question(qid)
    return q.parts[part] if part else q


def hint(qid, part, words):
    """The one hint message of (qid, part) that contains `words`."""
    found = {h.message for h in sub(qid, part).hints if words in h.message}
    assert len(found) == 1, (qid, part, words, found)
    return found.pop()


def answer(reader, qid, part, value):
    """The reader's right answer with one part replaced by `value`."""
    return value if part is None else dict(reader[qid], **{part: value})


def assert_mistake_gets_its_hint(reader, qid, part, value, words):
    fb = grade(qid, answer(reader, qid, part, value))
    want = hint(qid, part, words)
    assert fb.status == FAIL, fb
    assert fb.message == (f"{part}: {want}" if part else want)


def all_hints(qid):
    """(qid, part, message) of every hint of a question."""
    q = question(qid)
    subs = q.parts.items() if isinstance(q, Parts) else [(None, q)]
    return {(qid, part, h.message) for part, s in subs for h in s.hints}


def assert_every_hint_reached(reader, mistakes):
    reached = {(qid, part, hint(qid, part, words))
               for qid, part, _, words in mistakes}
    every = set().union(*(all_hints(q) for q in reader))
    assert every == reached, every - reached
