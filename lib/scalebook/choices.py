"""Questions answered with one of a few words ("compute", "fsdp", "leaf"),
and the other words a reader may use for each: case, spacing and a
trailing "-bound" are ignored, synonyms and aliases accepted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from scalebook.feedback import FAIL, PASS, AnswerError, Feedback
from scalebook.questions import Question


# The words a reader may use for the resource that bounds a time. An option
# spelled with any word of a group accepts every word of that group, with or
# without "-bound": "compute", "compute-bound", "flops" and "FLOPs bound"
# all answer an option "compute" (or "flops").
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "compute": ("compute", "flops", "flop", "math", "arithmetic", "mxu"),
    "memory": ("memory", "hbm", "memorybandwidth", "hbmbandwidth", "membw",
               "bandwidth"),
    "comms": ("comms", "comm", "communication", "communications", "ici",
              "network", "collective", "collectives"),
    "latency": ("latency",),
    "pcie": ("pcie", "host", "hostlink"),
}
_OPTION_ONLY_ITSELF = frozenset({"bandwidth"})
"""Words that a reader may use for memory, but which as an option keep their
own meaning: Chapter 3 contrasts "bandwidth-bound" with "latency-bound", and
there "memory-bound" must not pass for it."""
_GROUP = {w: g for g, words in SYNONYMS.items() for w in words}
ALIASES: Mapping[str, str] = {
    "zero3": "fsdp", "zerostage3": "fsdp", "fullysharded": "fsdp",
    "fullyshardeddataparallel": "fsdp", "zerostage1": "zero1",
    "zerostage2": "zero2", "ddp": "dp", "dataparallel": "dp",
    "dataparallelism": "dp", "kvcache": "kv", "cache": "kv",
    "prefillserver": "prefill", "decodeserver": "decode",
}
"""Other names for an option (normalised: lower case, letters and digits),
accepted where that option is offered: "ZeRO-3" answers "fsdp"."""
_TRAILING = ("switches", "switch", "engines", "engine", "servers", "server",
             "domain", "level", "tier", "layer")
"""Words a reader may add after an option's name: "leaf switch" answers
"leaf", "prefill engine" answers "prefill"."""


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def _stem(s: str) -> str:
    """'Compute-bound' -> 'compute'; 'all-gather' -> 'allgather'."""
    n = _norm(s)
    if n.endswith("bound") and len(n) > len("bound"):
        n = n[:-len("bound")]
    return n


@dataclass
class Choice(Question):
    """One of a fixed set of strings (case, spacing and a trailing "-bound"
    ignored; synonyms from `SYNONYMS` accepted in every chapter)."""

    options: Sequence[str] = ()

    def _listing(self) -> str:
        return ", ".join(repr(o) for o in self.options)

    def option(self, word: str) -> str | None:
        """The option `word` names, or None if it names none of them."""
        if not self.options:
            return word
        s = _stem(word)
        exact = [o for o in self.options if _stem(o) == s]
        if exact:
            return exact[0]
        bare = next((s[:-len(w)] for w in _TRAILING
                     if s.endswith(w) and len(s) > len(w)), s)
        for alias in (ALIASES.get(s), bare, ALIASES.get(bare)):
            found = [o for o in self.options if _stem(o) == alias]
            if alias and found:
                return found[0]
        group = _GROUP.get(s)
        same = [o for o in self.options if group is not None
                and _stem(o) not in _OPTION_ONLY_ITSELF
                and _GROUP.get(_stem(o)) == group]
        return same[0] if len(same) == 1 else None

    def read(self, answer: Any) -> str:
        if not isinstance(answer, str):
            raise AnswerError("expected a string, one of: "
                              + self._listing() + ".")
        opt = self.option(answer)
        if opt is None:
            raise AnswerError(f"{answer!r} is not one of the options: "
                              + self._listing() + ".")
        return opt

    def _must_be_option(self, value: Any) -> str:
        opt = self.option(str(value))
        if opt is None:
            raise ValueError(f"exercise {self.qid}: {value!r} is not one of "
                             f"its options ({self._listing()})")
        return opt

    def judge(self, opt: str) -> Feedback:
        if _stem(opt) == _stem(self._must_be_option(self._expected_value())):
            return Feedback(self.qid, PASS, f"correct ({opt}).")
        for hint in self.hints:
            if hint.value is not None and \
                    _stem(self._must_be_option(hint.value)) == _stem(opt):
                return Feedback(self.qid, FAIL, hint.message)
        return Feedback(self.qid, FAIL, "think again about which option "
                        "fits.")
