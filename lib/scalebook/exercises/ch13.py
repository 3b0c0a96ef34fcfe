"""Chapter 13 exercises: scaling laws and compute budgets.

Expected values come from `scalebook.scaling` (the fit, the compute-optimal
split, days on chips) and `scalebook.hardware`.  The givens are the
constants below; the notebook states the same values.  Fits are computed
on first use and cached, so importing this module costs nothing.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from scalebook import scaling as s
from scalebook import scaling_plan as sp
from scalebook.grading import (Hint, Number, Parts, off_by, register,
                               wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Givens (the notebook's problem statements use these values)
# ---------------------------------------------------------------------------
SUBSET_MAX_C = 1e21          # 13.2, 13.3: fit only runs below this (FLOPs)
OPT_C = 1e23                 # 13.4, 13.5: budget (FLOPs)
OPT_LAW = s.BESIROGLU_2024   # 13.4 - 13.6: the published replication
RULE_C, RULE_RATIO = 1e26, 20.0                     # 13.6
DAYS_C, DAYS_CLUSTER, DAYS_MFU = 4e24, "TPU v5p pod", 0.45   # 13.7
MFU_RUN = dict(N=7e9, D=2e12, chip="H100", chips=1024, days=2.5)  # 13.8


@dataclass
class _LazyNumber(Number):
    """A Number whose hints are built on first grading (they need fits)."""

    make_hints: Callable[[], Sequence[Hint]] | None = None

    def _grade(self, answer: Any):
        if self.make_hints is not None:
            self.hints = tuple(self.make_hints())
            self.make_hints = None
        return super()._grade(answer)


@functools.lru_cache(maxsize=None)
def runs() -> s.Runs:
    """The Chinchilla runs (cached)."""
    return s.load_chinchilla()


@functools.lru_cache(maxsize=None)
def _fit(max_c: float | None = None, exclude: int = s.EXCLUDE_HIGHEST
         ) -> s.Fit:
    r = runs() if max_c is None else runs().subset(runs().C < max_c)
    return s.fit(r, exclude_highest=exclude)


_ALL = (None, s.EXCLUDE_HIGHEST)        # every run
_SUB = (SUBSET_MAX_C, s.EXCLUDE_HIGHEST)  # 13.2's subset
_SUB_KEPT = (SUBSET_MAX_C, 0)           # ... keeping the highest-loss runs


@stored("ch13.law", args=(_ALL, _SUB, _SUB_KEPT))
def _law(max_c: float | None, exclude: int) -> s.Law:
    """The law `_fit(max_c, exclude)` finds (the grader's expected values
    and hints: fitting takes a second)."""
    return _fit(max_c, exclude).law


def held_out_run() -> tuple[float, float, float]:
    """(N, C, loss) of the run with the most compute: 13.3's held-out run."""
    i = int(np.argmax(runs().C))
    return float(runs().N[i]), float(runs().C[i]), float(runs().loss[i])


# ---------------------------------------------------------------------------
# 13.1 Tokens from FLOPs
# ---------------------------------------------------------------------------
def _tokens_1() -> float:
    N, C, _ = held_out_run()
    return s.tokens_for(C, N)


register(Number("13.1", _tokens_1, rtol=1e-3, unit="tokens", hints=[
    off_by(6, "off by 6×: a training token costs 6 FLOPs per parameter "
           "(2 forward, 4 backward), so divide C by 6N, not by N."),
    off_by(3, "off by 3×: 2ND counts only the forward pass; training "
           "costs 6ND."),
    off_by(0.5, "off by 2×: training costs 6 FLOPs per parameter per "
           "token, not 12."),
]))


# ---------------------------------------------------------------------------
# 13.2 Fit on a subset of the runs
# ---------------------------------------------------------------------------
def _alpha_subset() -> float:
    return _law(*_SUB).alpha


register(_LazyNumber("13.2", _alpha_subset, rtol=0.01, make_hints=lambda: [
    wrong_value(_law(*_ALL).alpha, "that is α of the fit to every run (the "
                "published replication's α is almost the same); keep only "
                "the runs below the FLOP limit, then fit."),
    wrong_value(_law(*_SUB_KEPT).alpha, "you kept the five "
                "highest-loss runs; the replication's recipe leaves them "
                "out (the default of scaling.fit)."),
    wrong_value(_law(*_SUB).beta, "that is β, the exponent of "
                "D; the question asks for α, the exponent of N."),
]))


# ---------------------------------------------------------------------------
# 13.3 Predict the held-out run
# ---------------------------------------------------------------------------
def _predict(law: s.Law, tokens_factor: float = 1.0) -> float:
    N, C, _ = held_out_run()
    return law.loss(N, s.tokens_for(C, N) * tokens_factor)


register(_LazyNumber("13.3", lambda: _predict(_law(*_SUB)),
                     rtol=5e-4, unit="nats/token", make_hints=lambda: [
    wrong_value(held_out_run()[2], "that is the run's observed loss; the "
                "question asks what the subset's law predicts for it."),
    wrong_value(_predict(_law(*_ALL)), "that prediction comes from the fit "
                "to every run, which has seen this run; use the law fitted "
                "below the FLOP limit."),
    wrong_value(_predict(_law(*_SUB), 6.0), "the tokens are "
                "off by 6×: D = C / (6 N)."),
    wrong_value(_predict(s.BESIROGLU_2024), "that is the published law's "
                "prediction; use your subset fit."),
]))


# ---------------------------------------------------------------------------
# 13.4, 13.5 The compute-optimal split of a budget
# ---------------------------------------------------------------------------
def _opt(law: s.Law = OPT_LAW, C: float = OPT_C) -> tuple[float, float]:
    return s.compute_optimal(law, C)


register(Number("13.4", lambda: _opt()[0], rtol=0.01, unit="parameters",
                hints=[
    wrong_value(_opt()[1], "that is D, the tokens; the question asks for "
                "N, the parameters."),
    off_by(6 ** OPT_LAW.a, "off by 6^(β/(α+β)): the power law applies to "
           "N·D = C/6, not to C."),
    off_by(36 ** OPT_LAW.a, "off by 36^(β/(α+β)): N·D = C/6, so divide "
           "the budget by 6 (not multiply)."),
    Hint("that uses the original Hoffmann et al. parameters; use the "
         "replication's.", value=_opt(s.HOFFMANN_2022)[0], rtol=0.002),
]))

register(Number("13.5", lambda: _opt()[1] / _opt()[0], rtol=0.01,
                unit="tokens per parameter", hints=[
    wrong_value(_opt()[0] / _opt()[1], "that is N/D; the ratio asked for "
                "is tokens per parameter, D/N."),
    Hint("that uses the original Hoffmann et al. parameters; use the "
         "replication's.", value=_opt(s.HOFFMANN_2022)[1]
         / _opt(s.HOFFMANN_2022)[0], rtol=0.002),
]))


# ---------------------------------------------------------------------------
# 13.6 How far is the 20-tokens-per-parameter rule from the optimum?
# ---------------------------------------------------------------------------
def rule_gap(law: s.Law = OPT_LAW, C: float = RULE_C,
             ratio: float = RULE_RATIO) -> dict[str, float]:
    """{"N_ratio": N_rule / N_opt, "excess_loss_pct": 100 (L_rule / L_opt - 1)}."""
    n_opt, d_opt = s.compute_optimal(law, C)
    n_rule, d_rule = s.tokens_per_param_rule(C, ratio)
    return {"N_ratio": float(n_rule / n_opt),
            "excess_loss_pct": float(100 * (law.loss(n_rule, d_rule)
                                            / law.loss(n_opt, d_opt) - 1))}


def _excess_nats(law: s.Law = OPT_LAW, C: float = RULE_C) -> float:
    """L_rule - L_opt (nats/token): 13.6's excess in absolute terms."""
    return float(law.loss(*s.tokens_per_param_rule(C, RULE_RATIO))
                 - law.loss(*s.compute_optimal(law, C)))


def _gap(key: str) -> Callable[[], float]:
    return lambda: rule_gap()[key]


register(Parts("13.6", None, parts={
    "N_ratio": Number("13.6.N_ratio", _gap("N_ratio"), rtol=0.005, hints=[
        wrong_value(1 / rule_gap()["N_ratio"], "that is N_opt / N_rule; "
                    "give the rule's N divided by the optimal N."),
        wrong_value(RULE_C / (6 * RULE_RATIO) / _opt(C=RULE_C)[0],
                    "for the rule, 6·N·(20·N) = C, so N = sqrt(C / 120): "
                    "you left out the square root."),
    ]),
    "excess_loss_pct": Number("13.6.excess_loss_pct",
                              _gap("excess_loss_pct"), rtol=0.02,
                              unit="%", hints=[
        off_by(0.01, "that looks like a fraction; give a percentage."),
        wrong_value(_excess_nats(), "that is the excess in nats; give "
                    "it as a percentage of the optimal loss."),
    ]),
}))


# ---------------------------------------------------------------------------
# 13.7 Days on a pod
# ---------------------------------------------------------------------------
def _days(mfu: float = DAYS_MFU, dtype: str = "bf16") -> float:
    chip, chips = sp.cluster(DAYS_CLUSTER)
    return sp.training_days(DAYS_C, chip, chips, mfu, dtype=dtype)


register(Number("13.7", _days, rtol=0.01, unit="days", hints=[
    wrong_value(_days(1.0), "that assumes the chips run at their peak; "
                "divide by the MFU as well."),
    off_by(DAYS_MFU ** 2, "you multiplied by the MFU; a utilisation below "
           "1 makes training take longer, so divide by it."),
    off_by(24, "that looks like hours: give days."),
    off_by(86_400, "that looks like seconds: give days."),
    wrong_value(_days(dtype="int8"), "that uses the int8 rate; training "
                "runs in bf16."),
]))


# ---------------------------------------------------------------------------
# 13.8 MFU from a training log
# ---------------------------------------------------------------------------
def _mfu(flops_per_param_token: float = 6.0, dtype: str = "bf16") -> float:
    r = MFU_RUN
    flops = flops_per_param_token * r["N"] * r["D"]
    at_peak = sp.training_days(flops, r["chip"], r["chips"], 1.0, dtype=dtype)
    return at_peak / r["days"]


register(Number("13.8", _mfu, rtol=0.01, hints=[
    wrong_value(_mfu(2.0), "that counts 2ND, the forward pass only; "
                "training does 6ND FLOPs."),
    off_by(100, "that looks like a percentage; give a fraction between 0 "
           "and 1."),
    wrong_value(_mfu(dtype="fp8"), "that divides by the fp8 (or the "
                "sparse) peak; the model FLOPs run in bf16, so use the bf16 "
                "peak."),
    off_by(24, "check the time units: the peak is per second, and the run "
           "took days (86,400 s each)."),
]))


worked = worked_numbers(13, {
    "mfu": _mfu,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
