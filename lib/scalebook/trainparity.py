"""Grade a reader's training step by parity (`codegrade.TrainTask`): run
it N times on the simulated mesh and compare the state, on every device,
with the single-device step's after every step; then judge its
collectives against the book's step.  A mismatch is explained (a psum
where a pmean belongs, a step that forgets what changes between steps).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from scalebook.codejudge import device_miss, judge_profile
from scalebook.coderun import (Best, MESH_STAGE, agree, best_of, block_shapes,
                               jax_mesh, leaves_with_names, named, place,
                               run_reader, shard_mapped, stage,
                               stored_result)
from scalebook.codetask import (Profile, Tolerance, TrainTask, Verdict,
                                profile_of, spec_tree)

# ---------------------------------------------------------------------------
# Grading a training step by parity
# ---------------------------------------------------------------------------
def _f32(tree: Any) -> Any:
    import jax

    return jax.tree.map(lambda x: np.asarray(x).astype(np.float32)
                        if np.asarray(x).dtype == np.float64
                        else np.asarray(x), tree)


def _train_inputs(task: TrainTask) -> tuple:
    """(mesh, initial state, batches, state specs, batch specs, placed
    (state, batches))."""
    mesh = stage(MESH_STAGE, jax_mesh, task.mesh)
    rng = np.random.default_rng(task.seed)
    state0 = stage("making the initial state", lambda: _f32(task.init(rng)))
    batches = stage("making the batches", lambda: [
        _f32(task.batch(rng, i)) for i in range(task.steps)])
    s_specs, b_specs = spec_tree(task.state_specs), \
        spec_tree(task.batch_specs)
    args = stage("placing the state and batches", lambda: (
        place(mesh, state0, s_specs),
        [place(mesh, b, b_specs) for b in batches]))
    return mesh, state0, batches, s_specs, b_specs, args


def train_result(task: TrainTask) -> dict[str, Any]:
    """The book's side of a training task that takes compiling: the
    single-device states after each step ("want") and the profile of the
    book's parallel step (which must match them).  Stored for the book's
    own tasks (`coderun.store_book_result`)."""
    import jax

    mesh, state0, batches, s_specs, b_specs, args = _train_inputs(task)

    def reference():
        dev = jax.devices()[0]
        step = jax.jit(task.reference)
        s, out = jax.device_put(state0, dev), []
        for b in batches:
            s = step(s, jax.device_put(b, dev))
            out.append(jax.tree.map(np.asarray, s))
        return out
    want = stage("running the single-device step", reference)
    jitted = shard_mapped(task.best, mesh, (s_specs, b_specs), s_specs)
    whole = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                         state0)
    compiled = stage("compiling the book's step",
                      lambda: jitted.lower(args[0], args[1][0]).compile())
    tol = task.tolerance or Tolerance.of(jax.tree.leaves(whole)[0].dtype)

    def run_best():
        s = args[0]
        for i, b in enumerate(args[1]):
            s = compiled(s, b)
            agree(s, want[i], tol, "the book's step disagrees with the "
                   f"single-device step after step {i + 1}")
    stage("running the book's step", run_best)
    p = stage("reading the book's HLO", profile_of, compiled, task.mesh)
    colls = tuple(dataclasses.replace(c, name="", line="")
                  for c in p.collectives)   # see coderun.book_result
    return {"want": want, "profile": Profile(colls, p.flops, p.memory)}


def train_best(task: TrainTask) -> Best:
    """The book's side of a training task: the mesh, the placed state and
    batches, the single-device states after each step and the book's
    step's profile (these two from the store where there is one)."""
    import jax

    mesh, state0, batches, s_specs, b_specs, args = _train_inputs(task)
    whole = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                         state0)
    tol = task.tolerance or Tolerance.of(jax.tree.leaves(whole)[0].dtype)
    book = stored_result(task, train_result)
    names = named(mesh, state0, s_specs) + named(mesh, batches[0], b_specs)
    return Best(mesh, (s_specs, b_specs), s_specs, args, book["want"],
                 block_shapes(mesh, whole, s_specs), whole, tol,
                 book["profile"], names)


def _first_miss(states: list, want: list, tol: Tolerance
                ) -> tuple[int, str, np.ndarray, np.ndarray] | None:
    import jax

    for i, (s, w) in enumerate(zip(states, want)):
        for (nm, g), ww in zip(leaves_with_names(s), jax.tree.leaves(w)):
            g = np.asarray(g, np.float64)
            if not tol.close(g, ww):
                return i, nm, g, np.asarray(ww, np.float64)
    return None


def _parity_message(task: TrainTask, step: int, leaf: str, got: np.ndarray,
                    want: np.ndarray, start: np.ndarray, prof: Profile,
                    tol: Tolerance) -> str:
    n = task.steps
    matched = "step 1 matches" if step == 1 else f"steps 1 to {step} match"
    where = (f"after step 1 of {n}, your {leaf!r} differs from the "
             "single-device step's" if step == 0 else
             f"{matched} the single-device step, but after step {step + 1} "
             f"your {leaf!r} differs")
    diff = float(np.max(np.abs(got - want)))
    if step > 0:
        return (f"{where} (by up to {diff:.3g}). What changes from step to "
                "step (the step count, a schedule, optimizer state)? Read it "
                "from the state your step is given, and update it as the "
                "single-device step does.")
    mine, theirs = got - start, want - start
    scale = float(np.max(np.abs(theirs)))
    loose = Tolerance(1e-3, 1e-3)
    if scale > 0 and float(np.max(np.abs(mine))) <= 1e-6 * scale:
        return f"{where}: your step left it unchanged."
    sizes = sorted({s for s in task.mesh.sizes if s > 1}
                   | {task.mesh.n_devices})
    for k in sizes:
        if k > 1 and loose.close(mine, k * theirs):
            return (f"{where}: your update is {k}x the single-device one. "
                    f"Did you add up (psum) the gradients of {k} devices "
                    "where the single-device step averages over the whole "
                    "batch? Use pmean, or divide by the device count.")
        if k > 1 and loose.close(mine, theirs / k):
            return (f"{where}: your update is 1/{k} of the single-device "
                    "one. Do you divide by the device count twice?")
    if not prof.collectives:
        return (f"{where}, and XLA emitted no collective: each device "
                "updated with the gradient of its own shard of the batch "
                "only. Combine the gradients across devices (pmean) "
                "before the update.")
    return (f"{where} (by up to {diff:.3g}; equal means {tol}). Check "
            "which gradients you combine, over which axes, and the "
            "update rule.")


def grade_train(task: TrainTask, fn: Callable) -> Verdict:
    """Judge the reader's training step `fn`: run it for the task's steps
    under `shard_map` and compare the final state with the book's program."""
    import jax

    best = best_of(task, train_best)
    state0, batches = best.args
    jitted = shard_mapped(fn, best.mesh, best.in_specs, best.out_specs,
                           best.expect, best.whole, "the state")

    def run():
        compiled = jitted.lower(state0, batches[0]).compile()  # traced once
        s, out = state0, []
        for b in batches:
            s = compiled(s, b)
            out.append(s)
        return compiled, out
    ran, verdict = run_reader(fn, run, task.mesh)
    if verdict is not None:
        return verdict
    compiled, states = ran
    got = stage("reading the HLO of your step", profile_of, compiled,
                task.mesh)
    miss = stage("comparing the states", _first_miss, states, best.want,
                  best.tol)
    if miss is not None:
        step, leaf, g, w = miss
        start = dict(leaves_with_names(_f32(jax.device_get(state0))))[leaf]
        return False, _parity_message(task, step, leaf or "state", g, w,
                                      np.asarray(start, np.float64), got,
                                      best.tol)
    for i, (s, w) in enumerate(zip(states, best.want)):
        for (nm, g), ww in zip(leaves_with_names(s), jax.tree.leaves(w)):
            bad = stage("comparing every device's state", device_miss, g,
                        ww, best.tol)
            if bad is not None:
                return False, (
                    f"after step {i + 1}, device 0's {nm or 'state'!r} "
                    f"equals the single-device step's, but device {bad[0]}'s "
                    "differs: every device must hold the same updated state "
                    "(each device's copy is checked). Combine the gradients "
                    "across devices before the update.")
    ok, msg = judge_profile(task.judge, got, best.profile, best.arrays,
                     per=" per step")
    if not ok:
        return ok, msg
    return True, (f"correct. After {task.steps} steps your state equals the "
                  f"single-device run's ({best.tol}). {msg}")
