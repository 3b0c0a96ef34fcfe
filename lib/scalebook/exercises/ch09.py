"""Chapter 9 exercises: profiling and reading HLO.

The exercise notebook profiles a second mis-sharded step (`_MYSTERY`: one
weight of the tiny transformer carries a stray axis, not the chapter's
w_up).  The reader finds the weight (9.1), fixes the specs (9.2, graded by
compiling the fixed step and reading its HLO: no weight all-gathered,
bytes no more than the intended sharding, weights no larger per device,
the same loss), prices the bug in bytes (9.3) and on a TPU with the cost
model (9.4), and reads a TPU layout (9.5).  Every expected value is read
from the compiled HLO or computed by `scalebook.hlo_layout` and
`scalebook.comms`.
"""
from __future__ import annotations

import functools
import math
from typing import Any

from scalebook.grading import (AnswerError, Choice, Custom, Number, off_by,
                               register, wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

_MYSTERY = {"wq": (None, "data", "model", None)}
"""The stray axis of the exercise's step: wq (layers, embed, q_heads,
head_dim) with embed split over data."""

LAYOUT = "bf16[5,200]{1,0:T(8,128)(2,1)}"                          # 9.5
BIG_MODEL, BIG_CHIP = "llama3-70b", "v5e"                          # 9.4


@functools.lru_cache(maxsize=None)
def mystery_step():
    """The exercise's compiled evaluation step (perfbug with _MYSTERY)."""
    from scalebook import perfbug

    return perfbug.compile_step(_MYSTERY)


def mystery_inputs():
    """(params, tokens) placed for `mystery_step`."""
    from scalebook import perfbug

    return perfbug.inputs(_MYSTERY)


# ---------------------------------------------------------------------------
# 9.1: which weight?
# ---------------------------------------------------------------------------
@stored("ch09.gathered_weight")
def _q1() -> str:
    from scalebook import perfbug

    moved = [w for _, w in perfbug.moved_weights(mystery_step())]
    if len(moved) != 1 or moved[0] is None:
        raise RuntimeError(f"exercise 9.1: expected one gathered weight, "
                           f"the HLO shows {moved}")
    return moved[0]


def _weights() -> tuple[str, ...]:
    from scalebook import perfbug

    return tuple(perfbug.weight_names())


# ---------------------------------------------------------------------------
# 9.2: fix the specs, graded by the HLO
# ---------------------------------------------------------------------------
def _param_bytes(compiled) -> int:
    from scalebook import perfbug

    return sum(math.prod(b) * 4 for b in
               perfbug.weight_blocks(compiled).values())


@functools.lru_cache(maxsize=None)
def _best():
    """(compiled, loss, bytes/step, weight bytes per device) of the
    intended sharding."""
    from scalebook import perfbug

    step = perfbug.compile_step()
    loss = float(step(*perfbug.inputs()))
    return step, loss, perfbug.bytes_per_step(step), _param_bytes(step)


@stored("ch09.best_numbers")
def _best_numbers() -> tuple[float, float, int]:
    """(loss, bytes/step, weight bytes per device) of the intended
    sharding: what 9.2 and 9.3 compare with."""
    return _best()[1:]


def _read_fix(answer: Any) -> dict:
    from scalebook import perfbug

    if not isinstance(answer, dict):
        raise AnswerError("expected a dict {weight name: spec}, such as "
                          "{'w_up': (None, None, 'model')}, got a "
                          f"{type(answer).__name__}.")
    overrides = dict(_MYSTERY)
    overrides.update(answer)
    try:
        perfbug.specs(overrides)
    except (ValueError, TypeError) as err:
        raise AnswerError(f"{err}.") from None
    return overrides


_VERDICTS: dict[str, tuple[bool, str]] = {}
"""9.2's verdict per set of specs already judged in this kernel (a check
run again with the same specs does not compile the step again)."""


def grade_fix(answer: Any) -> tuple[bool, str]:
    """Compile the step with the reader's specs on top of _MYSTERY and judge
    its HLO against the intended sharding."""
    from scalebook import perfbug

    overrides = _read_fix(answer)
    key = repr(sorted(perfbug.specs(overrides).items(), key=repr))
    if key not in _VERDICTS:
        _VERDICTS[key] = _judge_fix(overrides)
    return _VERDICTS[key]


def _judge_fix(overrides: dict) -> tuple[bool, str]:
    from scalebook import hlo, perfbug

    step = perfbug.compile_step(overrides)
    best_loss, best_bytes, best_params = _best_numbers()
    loss = float(step(*perfbug.inputs(overrides)))
    if not math.isclose(loss, best_loss, rel_tol=1e-5):
        return False, (f"the loss changed ({loss:.6f} against "
                       f"{best_loss:.6f}): a spec only moves data, so this "
                       "should not happen. Tell us how!")
    moved = [w for _, w in perfbug.moved_weights(step)]
    weights = sorted({w for w in moved if w})
    if weights:
        return False, (f"XLA still all-gathers {', '.join(weights)} in "
                       "every layer. Which dim of its spec is split over an "
                       "axis the other weights do not use?")
    if moved:
        return False, ("no weight is gathered now, but XLA all-gathers an "
                       "activation in every layer: a spec still splits a "
                       "weight over an axis the activations it meets are "
                       "not split the same way on. Weights here are never "
                       "split over data.")
    sent = perfbug.bytes_per_step(step)
    if sent > best_bytes * 1.001:
        kinds = sorted({c.kind for c in hlo.collectives(
            step, mesh=perfbug.MESH)})
        return False, (f"no weight is gathered any more, but the step sends "
                       f"{sent:,.0f} bytes per device, "
                       f"{sent / best_bytes:.3g}x the intended sharding "
                       f"({', '.join(kinds)}). Split the weight over model "
                       "the way the other weights of its kind are.")
    params = _param_bytes(step)
    if params > best_params * 1.001:
        return False, (f"no more all-gather, but each device now holds "
                       f"{params:,.0f} bytes of weights, "
                       f"{params / best_params:.3g}x the intended sharding: "
                       "you replicated a weight that tensor parallelism "
                       "splits over model. Keep that axis.")
    return True, (f"correct. The step sends {sent:,.0f} bytes per device "
                  "per step, only the all-reduces tensor parallelism needs, "
                  "and the loss is unchanged.")


# ---------------------------------------------------------------------------
# 9.3 - 9.5: what it costs
# ---------------------------------------------------------------------------
@stored("ch09.q3")
def _q3() -> float:
    from scalebook import perfbug

    return perfbug.bytes_per_step(mystery_step()) - _best_numbers()[1]


def _layers() -> int:
    from scalebook import config, perfbug

    return config.preset(perfbug.CFG).L


def _q4() -> float:
    """Seconds per step the stray axis costs BIG_MODEL on BIG_CHIP: one
    layer of wq in bf16 (heads split over model) gathered over data, once
    per layer."""
    from scalebook import comms, config, perfbug

    cfg = config.preset(BIG_MODEL)
    layer = cfg.D * cfg.N * cfg.H // perfbug.MESH["model"] * 2
    return cfg.L * comms.all_gather(layer, perfbug.MESH, "data",
                                    chip=BIG_CHIP).time


def _big_layers() -> int:
    from scalebook import config

    return config.preset(BIG_MODEL).L


def _q5() -> float:
    from scalebook import hlo_layout

    return hlo_layout.parse(LAYOUT).stored_bytes


def _q5_logical() -> float:
    from scalebook import hlo_layout

    return hlo_layout.parse(LAYOUT).logical_bytes


QUESTIONS = [
    Choice("9.1", _q1, options=_weights(), hints=[
        wrong_value("w_up", "that was the chapter's bug. Read this "
                    "profile's all-gather: its operand's type is one layer "
                    "of the weight, as its spec cuts it."),
        wrong_value("wk", "wk has the shape of wq, but is it split over "
                    "data? Compare the all-gather's operand with "
                    "perfbug.weight_blocks(step)."),
        wrong_value("wv", "wv has the shape of wq, but is it split over "
                    "data? Compare the all-gather's operand with "
                    "perfbug.weight_blocks(step)."),
    ]),
    Custom("9.2", None, grader=grade_fix),
    Number("9.3", _q3, rtol=0.01, unit="bytes", hints=[
        off_by(1 / _layers(), "that is one layer's all-gather: it sits "
               "in the layer loop and runs once per layer, every step."),
        off_by(4 / 3, "each device already holds its own quarter of the "
               "weight: it receives (n-1)/n of the gathered array."),
        off_by(2, "wq's heads are split over model too: each device "
               "gathers only its half of them."),
    ]),
    Number("9.4", _q4, rtol=0.05, unit="s", hints=[
        off_by(1 / _big_layers(), "that is one layer: the gather runs once "
               "per layer."),
        off_by(2, "in bf16 (2 bytes), and of the half of the heads each "
               "device keeps (model splits them)."),
        off_by(1e6, "the answer is in seconds, not microseconds."),
        off_by(1e3, "the answer is in seconds, not milliseconds."),
    ]),
    Number("9.5", _q5, rtol=0.001, unit="bytes", hints=[
        wrong_value(5 * 200 * 2, "that is the logical size: tiles pad the "
                    "array up to whole 8x128 tiles."),
        wrong_value(5 * 256 * 2, "the columns are padded to 256, right; "
                    "the 8-row tile pads the 5 rows too."),
        wrong_value(8 * 200 * 2, "the rows are padded to 8, right; the "
                    "columns are padded to a multiple of 128 too."),
        off_by(2, "a bf16 element takes 2 bytes; the (2,1) tile packs two "
               "of them into one 32-bit word, it does not widen them."),
    ]),
]

register(*QUESTIONS)


worked = worked_numbers(9, {
    "q1": _q1,
    "q3": _q3,
    "q4": _q4,
    "q5": _q5,
    "q5_logical": _q5_logical,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
