"""Judge a reader's program for the code grader (`scalebook.codegrade`):
its results on every device against the reference, then what XLA made of
it (collectives by kind, mesh axes and bytes per device; FLOPs; peak
memory) against the book's best program, with a message that names the
mistake.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from scalebook import hlo
from scalebook.coderun import (Named, an, and_list, best_of, code_best,
                               leaves_with_names, run_reader, shard_mapped,
                               stage)
from scalebook.codetask import (CodeTask, Judge, Profile, Tolerance, Verdict,
                                profile_of)
from scalebook.mesh import MeshSpec
from scalebook.units import fmt_bytes, fmt_flops

# ---------------------------------------------------------------------------
# Judging collectives, FLOPs and memory against the best program
# ---------------------------------------------------------------------------
def _squeeze(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _name_of(c: hlo.Collective, arrays: Sequence[Named]) -> str | None:
    """The task's array a collective moves: an input whose per-device
    block is the collective's operand (for an all-gather, a sharded one),
    else such an output, else the array whose whole is the collective's
    result (size-1 dims ignored); None for an intermediate."""
    op = _squeeze(c.operand_shapes[0]) if c.operand_shapes else None
    res = _squeeze(c.result_shapes[0]) if c.result_shapes else None
    for want_out in (False, True):
        hits = [nm for nm, blk, whole, out in arrays if out == want_out
                and _squeeze(blk) == op
                and (blk != whole or c.kind != "all-gather")]
        if hits:
            break
    if len(hits) > 1:   # blocks of the same shape: the result tells
        hits = [nm for nm, _, whole, _ in arrays
                if nm in hits and _squeeze(whole) == res] or hits
    if not hits:
        hits = [nm for nm, _, whole, _ in arrays if _squeeze(whole) == res]
    return " or ".join(dict.fromkeys(hits)) if hits else None


def _listing(kinds: Sequence[str]) -> str:
    """'reduce-scatter'; 'all-gather, all-reduce'; '7 collective-permutes'."""
    counts = {k: kinds.count(k) for k in kinds}
    return ", ".join(k if n == 1 else f"{n} {k}s" for k, n in counts.items())


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _gathered(p: Profile, arrays: Sequence[Named]) -> list[str]:
    return [_name_of(c, arrays) or "an intermediate array"
            for c in p.collectives if c.kind == "all-gather"]


def judge_profile(judge: Judge, got: Profile, best: Profile,
           arrays: Sequence[Named], per: str = "") -> Verdict:
    """Collectives (kinds, axes, bytes), then FLOPs and memory, of a
    program whose results are right.  A pass message is the tail after
    "correct. "."""
    kinds, ideal = got.kinds, best.kinds
    listing = _listing(kinds)
    if not kinds and ideal:
        return False, ("correct numbers, but XLA emitted no collective at "
                       "all: your function cannot have used the other "
                       "devices' data. Did it read global arrays instead of "
                       "the blocks it was given?")
    if judge.kinds is not None:
        bad = [k for k in kinds if k not in judge.kinds]
        if bad:
            return False, dict(judge.kind_hints).get(bad[0], (
                f"right numbers, but XLA emitted {and_list(bad)}: this exercise "
                f"asks for {and_list(list(judge.kinds))} only."))
    extra_axes = got.axes - best.axes
    if extra_axes and best.axes:
        c = next(c for c in got.collectives
                 if set(c.mesh_axes or ()) & extra_axes)
        what = _name_of(c, arrays)
        return False, (
            f"right numbers, but XLA emitted {an(c.kind)}"
            f"{f' of {what}' if what else ''} over "
            f"{and_list(list(c.mesh_axes))}: the best program communicates only "
            f"over {and_list(sorted(best.axes))}. Which mesh axis really splits "
            "the data you need?")
    moved, least = got.bytes, best.bytes
    if judge.bytes is not None and moved > least * judge.bytes * 1.001:
        if not least:
            what = and_list([_name_of(c, arrays) or "an intermediate array"
                         for c in got.collectives])
            return False, (f"right numbers, but XLA emitted {listing} (of "
                           f"{what}), moving {moved:,.0f} bytes per device"
                           f"{per}: none need move. Each device already "
                           "holds what its block of the result needs.")
        return False, _wasteful(got, best, arrays, moved / least, listing,
                                per)
    for name, g, b, unit in (
            ("flops", got.flops, best.flops, fmt_flops),
            ("memory", got.memory.peak_bytes, best.memory.peak_bytes,
             fmt_bytes)):
        limit = getattr(judge, name)
        if limit is not None and g > b * limit * 1.001:
            return False, _costly(name, g, b, unit, got, best, arrays)
    if not kinds:
        return True, "XLA emitted no collective: none is needed."
    said = f"XLA emitted {listing}, moving {moved:,.0f} bytes per device{per}"
    if moved < least * 0.999:
        return True, (f"{said}: fewer than the book's own program. Please "
                      "tell us how!")
    if moved <= least * 1.001:
        return True, f"{said}: the least this layout needs."
    if judge.bytes is None:         # this task does not judge the bytes
        return True, f"{said}."
    return True, f"{said}, within {judge.bytes:g}x of the best program."


def _wasteful(got: Profile, best: Profile, arrays: Sequence[Named],
              ratio: float, listing: str, per: str = "") -> str:
    """Name the collective that moves more than the best program's."""
    kinds, ideal = got.kinds, best.kinds
    mine, theirs = _gathered(got, arrays), _gathered(best, arrays)
    extra = [n for n in mine if n not in theirs]
    missing = [n for n in theirs if n not in mine]
    if extra and missing:
        return (f"right numbers, but you all-gathered {and_list(extra)}, where "
                f"the best program gathers {and_list(missing)}: your version "
                f"moves {ratio:.3g}x more bytes per device than needed. "
                "Gather the smaller array.")
    if theirs and extra:
        return (f"right numbers, but XLA emitted {listing}: you all-gathered "
                f"{and_list(extra)} as well as {and_list(theirs)}, and move "
                f"{ratio:.3g}x more bytes per device than needed. Which "
                "input does each device already hold in the form it needs?")
    if mine and not theirs:
        return (f"right numbers, but your version all-gathers {and_list(mine)}: "
                f"it moves {ratio:.3g}x more bytes per device than needed. "
                f"{_cap(an(and_list(ideal)))} does this job.")
    if ("reduce-scatter" in ideal and "all-reduce" in kinds
            and "reduce-scatter" not in kinds):
        ar = sum(c.total_bytes for c in got.collectives
                 if c.kind == "all-reduce")
        rs = sum(c.total_bytes for c in best.collectives
                 if c.kind == "reduce-scatter")
        each = (f"an all-reduce, which moves {ar / rs:.3g}x the bytes of a "
                "reduce-scatter (psum_scatter)" if rs else "an all-reduce")
        whole = (f"; your whole {'step' if per else 'program'} moves "
                 f"{ratio:.3g}x the bytes it needs" if rs and
                 abs(ar / rs - ratio) > 0.01 * ratio else "")
        return ("right numbers, but you used psum and then sliced: that is "
                f"{each}{whole}.")
    big = max(got.collectives, key=lambda c: c.total_bytes)
    what = _name_of(big, arrays)
    of = f" (the largest is {an(big.kind)} of {what})" if what else ""
    return (f"right numbers, but XLA emitted {listing}, moving {ratio:.3g}x "
            f"more bytes per device than needed{of}. Which array really has "
            "to travel?")


def _costly(name: str, g: float, b: float, unit: Callable,
            got: Profile, best: Profile, arrays: Sequence[Named]) -> str:
    ratio = g / b if b else float("inf")
    if name == "flops":
        return (f"right numbers and collectives, but each device does "
                f"{ratio:.3g}x the FLOPs of the best program ({unit(g)} "
                f"against {unit(b)}). Does every device compute more than "
                "its own share, or multiply in a costlier order?")
    extra = [n for n in _gathered(got, arrays)
             if n not in _gathered(best, arrays)]
    why = (f" Your all-gather of {and_list(extra)} makes a full copy the best "
           "program never holds." if extra else
           " Do you build a large intermediate the best program avoids?")
    return (f"right numbers and collectives, but each device needs "
            f"{ratio:.3g}x the memory of the best program at its peak "
            f"({unit(g)} against {unit(b)}: arguments + outputs + "
            f"temporaries).{why}")


def too_large(got: np.ndarray, want: np.ndarray, tol: Tolerance,
               mesh: MeshSpec) -> int | None:
    """k when `got` is k times `want` for k a group size of the mesh (the
    reader added up k copies instead of k shares)."""
    for k in sorted({s for s in mesh.sizes if s > 1} | {mesh.n_devices}):
        if k > 1 and tol.close(got, k * np.asarray(want, np.float64)):
            return k
    return None


# ---------------------------------------------------------------------------
# Grading a code task
# ---------------------------------------------------------------------------
def device_miss(out: Any, want: Any, tol: Tolerance
                 ) -> tuple[int, np.ndarray, np.ndarray, bool] | None:
    """(device id, its block, the block it should hold, replicated?) of the
    first device whose block of `out` differs from its part of `want`;
    None when every device is right.  A replicated result reads as device
    0's copy, so each device's copy is compared, not just the first."""
    want = np.asarray(want, np.float64)
    shards = sorted(getattr(out, "addressable_shards", ()),
                    key=lambda sh: sh.device.id)
    for sh in shards:
        got, part = np.asarray(sh.data, np.float64), want[sh.index]
        if not tol.close(got, part):
            return sh.device.id, got, part, got.shape == want.shape
    return None


def _reordered(got: np.ndarray, want: np.ndarray, n: int,
               tol: Tolerance) -> bool:
    """True when `got` holds `want`'s n row blocks in another order."""
    if got.shape != want.shape or not got.shape or got.shape[0] % n:
        return False
    mine, theirs = np.split(got, n), np.split(want, n)
    return all(any(tol.close(m, t) for t in theirs) for m in mine)


def _device_message(task: CodeTask, leaf: str, device: int, got: np.ndarray,
                    want: np.ndarray, replicated: bool) -> str:
    what = f"{task.out_name} {leaf}".strip()
    if not replicated:
        return (f"device {device}'s block of {what} differs from its part "
                "of the unsharded result. Check which block each device "
                "must return.")
    said = (f"device 0's copy of {what} is right, but device {device}'s "
            "differs: the result is replicated, so every device must end "
            "with the whole of it (each copy is checked).")
    if _reordered(got, want, task.mesh.n_devices, task.tolerance
                  or Tolerance.of(want.dtype)):
        return (f"{said} It holds the right blocks in the wrong order: put "
                "each block at the position of the device it came from, "
                "not in the order it arrived.")
    return (f"{said} Does every device add (or keep) every chunk, or only "
            "device 0?")


def grade_code(task: CodeTask, fn: Callable) -> Verdict:
    """Judge the reader's `fn` on a code task: run it as `shard_map` over
    the task's mesh, compare its result with the book's program, then its
    collectives, FLOPs and memory (the `Verdict` says which held)."""
    import jax

    best = best_of(task, code_best)
    jitted = shard_mapped(fn, best.mesh, best.in_specs, best.out_specs,
                           best.expect, best.whole, task.out_name)
    def run():
        compiled = jitted.lower(*best.args).compile()   # traced once
        return compiled, compiled(*best.args)
    ran, verdict = run_reader(fn, run, task.mesh)
    if verdict is not None:
        return verdict
    compiled, out = ran
    for (nm, o), w in zip(leaves_with_names(out), jax.tree.leaves(best.want)):
        got = np.asarray(o, np.float64)
        if best.tol.close(got, w):
            miss = stage("comparing every device's result",
                         device_miss, o, w, best.tol)
            if miss is not None:
                return False, _device_message(task, nm, *miss)
            continue
        of = f" of {task.out_name} {nm}" if nm else ""
        k = too_large(got, w, best.tol, task.mesh)
        if k:
            return False, (f"your result{of} is {k}x too large: every device "
                           "added in the full result, not just its own "
                           "share.")
        return False, (f"the numbers{of} differ from the unsharded result "
                       f"(equal means {best.tol}). Check which block of the "
                       "output each device must return, and the dims you "
                       "gather or scatter along.")
    got = stage("reading the HLO of your program", profile_of, compiled,
                task.mesh)
    ok, msg = judge_profile(task.judge, got, best.profile, best.arrays)
    return ok, (f"correct. {msg}" if ok else msg)
