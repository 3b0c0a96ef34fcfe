"""The tiny model trained under four learning-rate schedules on a
generated corpus, losses and held-out scores recorded (Chapter 13; drawn
by `scalebook.explore.scaling.schedule_figure`).

Units: steps, tokens, nats per token.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ScheduleDemo", "schedule_demo"]


@dataclass
class ScheduleDemo:
    """Per-step learning rates and training losses of each run.

    A run named in `branched_from` started from that run's checkpoint at
    step `start[name]`, so its arrays cover steps start..start+len-1.
    """

    lrs: dict[str, np.ndarray]
    losses: dict[str, np.ndarray]
    start: dict[str, int]
    held_out: dict[str, float]     # final loss on held-out sequences
    floor: float                   # the corpus's entropy rate (nats/token)
    tokens_per_step: int
    steps_run: int                 # optimizer steps actually computed
    branched_from: dict[str, str] = field(default_factory=dict)


def schedule_demo(steps: int = 160, batch: int = 8, seq_len: int = 32,
                  peak: float = 1e-2, warmup: int | None = None,
                  decay: float = 0.2, seed: int = 0, preset: str = "tiny",
                  held_out_batches: int = 8) -> ScheduleDemo:
    """Train `preset` under four schedules on a generated Markov corpus.

    "cosine" and "WSD" run `steps` steps; "cosine, half" runs steps // 2
    from scratch; "WSD, half" reuses the WSD run's checkpoint at the start
    of its own decay (the two schedules agree until then) and only runs
    the decay.  Every run sees the same batches in the same order, and is
    scored at its end on `held_out_batches` batches it never trained on.
    """
    import jax

    from scalebook import corpus, model as m, schedules as sch

    cfg = m.preset(preset)
    warmup = max(1, steps // 20) if warmup is None else warmup
    half = steps // 2
    src = corpus.markov_source(vocab=cfg.V, seed=seed)
    data = src.batches(steps, batch, seq_len, seed=seed + 1)
    held = src.batches(held_out_batches, batch, seq_len, seed=seed + 2)
    step = jax.jit(m.train_step, static_argnames=("cfg", "scan_layers"))
    params0 = m.init_params(cfg, jax.random.key(seed))
    opt0 = jax.jit(m.init_adam)(params0)  # one compile, not one per leaf

    def evaluate(params, opt):
        # train_step returns the loss of the parameters it was given, before
        # its update; at learning rate 0 on unseen batches it is an
        # evaluation (the update is discarded), and it reuses the compiled
        # step instead of compiling a second function.
        zero = np.float32(0.0)
        return float(np.mean([step(params, opt, b, cfg, zero)[2]
                              for b in held]))

    lrs = {"cosine": sch.cosine(steps, peak, warmup),
           "WSD": sch.wsd(steps, peak, warmup, decay),
           "cosine, half": sch.cosine(half, peak, warmup),
           "WSD, half": sch.wsd(half, peak, warmup, decay)}
    branch = sch.wsd_decay_start(half, warmup, decay)
    if not np.array_equal(lrs["WSD, half"][:branch], lrs["WSD"][:branch]):
        raise AssertionError("the half-length WSD run must share the long "
                             "run's stable phase to branch from it")
    losses, held_out, start, snaps = {}, {}, {}, {}
    steps_run = 0

    def run(name, params, opt, first, save_at=None):
        nonlocal steps_run
        out = []
        for i in range(first, len(lrs[name])):
            if i == save_at:
                snaps[name] = (params, opt)
            params, opt, loss = step(params, opt, data[i], cfg,
                                     lrs[name][i])     # a numpy float32
            out.append(loss)
        steps_run += len(lrs[name]) - first
        losses[name] = np.asarray(out, dtype=np.float64)
        start[name] = first
        held_out[name] = evaluate(params, opt)

    for name in ("cosine", "WSD", "cosine, half"):
        run(name, params0, opt0, 0, save_at=branch if name == "WSD" else None)
    run("WSD, half", *snaps["WSD"], branch)
    return ScheduleDemo(lrs=lrs, losses=losses, start=start,
                        held_out=held_out, floor=src.entropy_rate,
                        tokens_per_step=batch * seq_len, steps_run=steps_run,
                        branched_from={"WSD, half": "WSD"})
