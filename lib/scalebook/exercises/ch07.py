"""Chapter 7 exercises: inference.

Expected values come from `scalebook.inference` and, where a program can
answer, from the program itself: 7.5 is graded by the collectives XLA
emits for the sharded decode step (read with `scalebook.hlo`), 7.7 by the
serving simulator, and 7.9 runs the reader's block manager on a fixed
request trace and compares the blocks used, the preemptions and the
prefix-cache hits with the reference `scalebook.paged_kv.BlockManager`.
The givens are the constants below; the notebook states the same values.
"""
from __future__ import annotations

import functools
from typing import Any

from scalebook import counting as cnt
from scalebook import inference as inf
from scalebook import paged_kv as pk
from scalebook.grading import (BLANK, BLANK_MESSAGE, RETURNED_NONE,
                               AnswerError, Choice, Custom, Number, Parts,
                               is_stub, off_by, register, wrong_value)
from scalebook.refvalues import stored

# ---------------------------------------------------------------------------
# Givens
# ---------------------------------------------------------------------------
CRIT = dict(chip="H100", weight_dtype="int8", compute_dtype="bf16")   # 7.1
STEP = dict(cfg="llama3-8b", chip="H100", batch=16, context=4096)     # 7.2
FIT = dict(cfg="llama3-8b", chip="H100", context=8192)                # 7.3
REPL = dict(cfg="llama3-405b", tp=64)                                 # 7.4
SHARD = dict(D=128, F=512, L=3, N=8, K=4, H=16, V=256, batch=8,
             mesh=(2, 4))                                             # 7.5
PAGES = dict(lengths=(100, 1000, 17, 4096, 250), block=16,
             max_context=4096)                                        # 7.6
SIM = dict(batch=16, prompt=512, reply=128)                           # 7.7
REGIME = dict(cfg="llama3-70b", chip="v5e", chips=16, batch=64,
              context=16384)                                          # 7.8
TRACE = dict(seed=11, n_requests=24, prefixes=2, prefix_len=8,
             max_prompt=6, max_reply=14, vocab=40)                    # 7.9
POOL = dict(num_blocks=12, block_size=4)                              # 7.9
TINY_TRACE = dict(seed=0, n_requests=8, prefixes=1, prefix_len=4,
                  max_prompt=4, max_reply=6, vocab=6)                 # 7.9
TINY_POOL = dict(num_blocks=3, block_size=4)                          # 7.9
"""7.9's second trace: a pool so small that a freed prefix block is
often wanted again while it sits on the free list (the rule the big
trace never tests)."""


# ---------------------------------------------------------------------------
# 7.1 Critical batch of an H100 with int8 weights
# ---------------------------------------------------------------------------
register(Number("7.1", lambda: inf.critical_batch(**CRIT), rtol=0.02,
                unit="tokens", hints=[
    off_by(2, "twice the answer: 2 bytes per weight gives the bf16 "
           "critical batch, and the int8 FLOP/s doubles it too. Here each "
           "weight is 1 byte, and the math runs at the bf16 rate."),
    off_by(0.5, "half the answer: each weight is 1 byte (not half a "
           "byte) and does 2 FLOPs per token (count them once)."),
    off_by(4, "four times the answer: both the bf16 byte size (2 bytes) "
           "and the int8 FLOP/s doubled it; int8 weights are 1 byte, "
           "multiplied at the bf16 rate."),
]))


# ---------------------------------------------------------------------------
# 7.2 Decode step time of LLaMA-3 8B on one H100
# ---------------------------------------------------------------------------
def _step(**change: Any) -> float:
    g = {**STEP, **change}
    return inf.decode_step(g["cfg"], g["chip"], g["batch"], g["context"],
                           check_memory=False).total * 1e3


def _step_parts() -> inf.StepTime:
    return inf.decode_step(STEP["cfg"], STEP["chip"], STEP["batch"],
                           STEP["context"])


register(Number("7.2", _step, rtol=0.02, unit="ms", hints=[
    wrong_value(_step_parts().t_weights * 1e3, "that is the weight load "
                "alone: every sequence also reads its own KV cache."),
    wrong_value((_step_parts().t_weights + _step_parts().t_kv
                 + _step_parts().t_flops) * 1e3, "the weight matmuls "
                "overlap their FLOPs with their loads: take the larger, "
                "not the sum."),
    wrong_value(_step_parts().t_kv * 1e3 * 4 + _step_parts().t_weights
                * 1e3, "the cache holds the K = 8 KV heads, not the 32 "
                "query heads."),
]))


# ---------------------------------------------------------------------------
# 7.3 The largest batch that fits
# ---------------------------------------------------------------------------
def _fit(weight_dtype: str = "int8", kv_dtype: str = "int8") -> int:
    return inf.max_batch(FIT["cfg"], FIT["chip"], 1, FIT["context"],
                         weight_dtype=weight_dtype, kv_dtype=kv_dtype)


def _fit_no_weights() -> int:
    from scalebook.hardware import chip

    return int(chip(FIT["chip"]).hbm_bytes
               // inf.kv_bytes_per_seq(FIT["cfg"], FIT["context"], "int8"))


register(Number("7.3", _fit, rtol=0, unit="sequences", hints=[
    wrong_value(_fit(kv_dtype="bf16"), "that is for a bf16 cache; here the "
                "cache is int8, one byte per number."),
    wrong_value(_fit_no_weights(), "the weights take HBM too: subtract "
                "them first."),
    wrong_value(_fit() + 1, "round down: a sequence whose cache does not "
                "fit whole cannot run."),
]))


# ---------------------------------------------------------------------------
# 7.4 KV-head replication under wide tensor parallelism
# ---------------------------------------------------------------------------
def _waste() -> float:
    return 1 - 1 / inf.kv_replication(REPL["cfg"], REPL["tp"])


register(Number("7.4", _waste, rtol=0.01, unit="fraction", hints=[
    wrong_value(1 / inf.kv_replication(REPL["cfg"], REPL["tp"]),
                "that is the useful fraction; the question asks for the "
                "share spent on copies."),
    wrong_value(inf.kv_replication(REPL["cfg"], REPL["tp"]), "that is the "
                "number of copies of each head; give the fraction of the "
                "cache memory they waste (between 0 and 1)."),
]))


# ---------------------------------------------------------------------------
# 7.5 Collectives of a sharded decode step, graded by the compiled HLO
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def hlo_decode_collectives() -> tuple:
    """The collectives XLA emits for one sharded decode step of the 7.5
    model on the (data, model) mesh (`scalebook.hlo` reads them)."""
    import jax
    import jax.numpy as jnp

    from scalebook import hlo
    from scalebook import model as m
    from scalebook import sharded_decode as sd
    from scalebook import sharding

    g = SHARD
    cfg = m.Config(**{k: g[k] for k in "DFLNKHV"}, name="ex7.5")
    mesh = sharding.mesh(g["mesh"], ("data", "model"))
    plan = sd.plan(cfg, mesh, "data", "model")
    S = jax.ShapeDtypeStruct
    params = jax.eval_shape(lambda k: m.init_params(cfg, k),
                            jax.random.key(0))
    cache = jax.eval_shape(lambda: m.init_cache(cfg, g["batch"], 32))
    step = sd.sharded_decode_step(cfg, mesh, plan)
    comp = step.lower(params, cache, S((g["batch"],), jnp.int32),
                      S((), jnp.int32)).compile()
    return tuple(hlo.collectives(comp))


@stored("ch07.decode_collectives")
def _decode_collectives() -> tuple[int, float]:
    """(collectives, bytes per device of the first) of 7.5's step."""
    colls = hlo_decode_collectives()
    return len(colls), colls[0].bytes_per_device


def _hlo_count() -> int:
    return _decode_collectives()[0]


def _hlo_bytes() -> float:
    return _decode_collectives()[1]


def _v_bytes() -> float:
    g = SHARD
    return g["batch"] // g["mesh"][0] * g["D"] * 4


register(Parts("7.5", None, parts={
    "count": Number("7.5.count", _hlo_count, rtol=0, unit="all-reduces",
                    hints=[
        wrong_value(SHARD["L"], "one per layer is too few: both the "
                    "attention output projection and the MLP's down "
                    "projection sum over the split heads or hidden units."),
        wrong_value(4 * SHARD["L"], "tensor parallelism needs one "
                    "all-reduce after each of the two split matmul pairs "
                    "per layer, not four."),
    ]),
    "bytes": Number("7.5.bytes", _hlo_bytes, rtol=0.01, unit="bytes",
                    hints=[
        wrong_value(_v_bytes(), "that is the array each all-reduce works "
                    "on; a ring all-reduce sends 2 V (n-1)/n bytes per "
                    "device."),
        wrong_value(_v_bytes() * SHARD["mesh"][0] * 2 * 3 / 4, "each "
                    "device holds only its own sequences: the batch is "
                    "split over the data axis."),
        wrong_value(_v_bytes() * 3 / 4, "a ring all-reduce is a "
                    "reduce-scatter plus an all-gather: 2 V (n-1)/n."),
    ]),
}))


# ---------------------------------------------------------------------------
# 7.6 Paged against contiguous memory
# ---------------------------------------------------------------------------
def _pages() -> pk.BlockManager:
    """A pool with 7.6's block size (its size does not matter here: only
    `blocks_needed` is asked)."""
    return pk.BlockManager(num_blocks=1, block_size=PAGES["block"],
                           max_context=PAGES["max_context"])


@functools.lru_cache(maxsize=None)
def _paged_blocks(round_up: bool = True) -> int:
    bs = PAGES["block"]
    if round_up:
        return sum(_pages().blocks_needed(n) for n in PAGES["lengths"])
    return sum(n // bs for n in PAGES["lengths"])


def _contiguous_blocks() -> int:
    return len(PAGES["lengths"]) * PAGES["max_context"] // PAGES["block"]


def _saving() -> float:
    return 1 - _paged_blocks() / _contiguous_blocks()


register(Parts("7.6", None, parts={
    "blocks": Number("7.6.blocks", _paged_blocks, rtol=0, unit="blocks",
                     hints=[
        wrong_value(_paged_blocks(False), "round each sequence's blocks "
                    "UP: a partly filled block still takes a whole one."),
        wrong_value(_contiguous_blocks(), "that is what the contiguous "
                    "cache reserves; a paged cache takes blocks only for "
                    "tokens that exist."),
    ]),
    "saving": Number("7.6.saving", _saving, rtol=0.002, unit="fraction",
                     hints=[
        wrong_value(1 - _saving(), "that is the fraction the paged cache "
                    "still uses; the question asks for the saving."),
    ]),
}))


# ---------------------------------------------------------------------------
# 7.7 Time per output token at a fixed batch, graded by the simulator
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def simulated_tpot() -> float:
    """Median TPOT (ms) of the serving simulator for 7.7's waves."""
    from scalebook import serving as sv

    g = SIM
    spec = sv.EngineSpec("llama3-8b", "H100", max_batch=g["batch"],
                         max_context=1024,
                         max_prefill_tokens=g["batch"] * g["prompt"])
    trace = sv.make_trace(3 * g["batch"], None, g["prompt"], g["reply"])
    return sv.simulate(trace, spec).percentiles("tpot")[50] * 1e3


def _tpot_at(context: int) -> float:
    return inf.decode_step("llama3-8b", "H100", SIM["batch"],
                           context).total * 1e3


register(Number("7.7", simulated_tpot, rtol=0.002, unit="ms", hints=[
    wrong_value(_tpot_at(SIM["prompt"]), "the cache grows as the reply "
                "is written: use the mean context over the reply, not "
                "the prompt alone."),
    wrong_value(_tpot_at(SIM["prompt"] + SIM["reply"]), "that is the last "
                "step's time; every step of the reply counts, so take the "
                "mean context."),
]))


# ---------------------------------------------------------------------------
# 7.8 Which term bounds the step?
# ---------------------------------------------------------------------------
def _regime() -> str:
    g = REGIME
    return inf.decode_step(g["cfg"], g["chip"], g["batch"], g["context"],
                           g["chips"], weight_dtype="int8",
                           kv_dtype="int8").bound


register(Choice("7.8", _regime, options=("weights", "kv", "compute"),
                hints=[
    wrong_value("weights", "the weights are read once per step, but 64 "
                "caches of 16k tokens are larger still."),
    wrong_value("compute", "64 sequences is below the int8 critical "
                "batch: the weight matmuls are not compute-bound."),
]))


# ---------------------------------------------------------------------------
# 7.9 Write the block manager, graded on two traces
# ---------------------------------------------------------------------------
def fixed_trace() -> list[tuple]:
    """The 24-request trace 7.9 is graded on (`paged_kv.random_trace`)."""
    return pk.random_trace(**TRACE)


def tiny_trace() -> list[tuple]:
    """The trace on the 3-block pool that 7.9 is also graded on."""
    return pk.random_trace(**TINY_TRACE)


def _runs() -> list[tuple[str, dict, list]]:
    return [("the 24-request trace on 12 blocks", POOL, fixed_trace()),
            ("the short trace on 3 blocks", TINY_POOL, tiny_trace())]


def _recording(cls: type) -> type:
    """`cls` with every value `allocate` returns kept in `self.returned`."""
    def allocate(self, seq_id, tokens):
        got = cls.allocate(self, seq_id, tokens)
        self.returned.append(got)
        return got

    def __init__(self, *args, **kwargs):
        cls.__init__(self, *args, **kwargs)
        self.returned = []
    return type(cls.__name__, (cls,), {"allocate": allocate,
                                       "__init__": __init__})


def _outcome(cls: type, pool: dict, trace: list) -> tuple:
    """What replaying `trace` does with `cls`: ("ok", result, allocate's
    returns, blocks still used) or (exception, message)."""
    mgr = _recording(cls)(**pool)
    try:
        res = pk.replay(mgr, trace, check=True)
    except Exception as err:                     # noqa: BLE001
        return type(err), str(err), err
    return "ok", res, mgr.returned, mgr.num_used


@functools.lru_cache(maxsize=None)
def _reference(i: int) -> tuple:
    _, pool, trace = _runs()[i]
    return _outcome(pk.BlockManager, pool, trace)


@functools.lru_cache(maxsize=None)
def _slip(name: str, i: int) -> tuple:
    _, pool, trace = _runs()[i]
    return _outcome(_SLIPS[name], pool, trace)[:2]


def reference_result() -> pk.TraceResult:
    """The reference manager's result on the 24-request trace."""
    return _reference(0)[1]


def _books_own(cls: type) -> bool:
    return all(getattr(cls, m, None) is getattr(pk.BlockManager, m)
               for m in ("allocate", "append", "free"))


def _grade_manager(cls: Any) -> tuple[bool | None, str]:
    if not (isinstance(cls, type) and issubclass(cls, pk.BlockPool)):
        return False, ("expected a class that subclasses "
                       "scalebook.paged_kv.BlockPool.")
    stubs = [name for name in ("allocate", "append", "free")
             if is_stub(getattr(cls, name, None))]
    if len(stubs) == 3:
        raise AnswerError(BLANK_MESSAGE, status=BLANK)
    if stubs:
        return False, (f"{' and '.join(stubs)} still "
                       f"{'is' if len(stubs) == 1 else 'are'} the stub: "
                       "write all three methods.")
    if _books_own(cls):
        return False, ("those are the library's own methods "
                       "(pk.BlockManager's): the exercise is to write "
                       "allocate, append and free yourself on "
                       "pk.BlockPool.")
    for i, (where, pool, trace) in enumerate(_runs()):
        verdict = _judge_run(cls, i, where, pool, trace)
        if verdict is not None:
            return verdict
    want = reference_result()
    return True, (f"correct on both traces: on the long one, "
                  f"{want.peak_blocks} blocks at peak, {want.preemptions} "
                  f"preemptions and {want.prefix_hits} prefix-cache hits, "
                  "as the reference; the 3-block pool stays consistent.")


def _judge_run(cls: type, i: int, where: str, pool: dict, trace: list
               ) -> tuple[bool, str] | None:
    got = _outcome(cls, pool, trace)
    if got[0] != "ok":
        kind, msg, err = got
        if kind is AssertionError:
            if (kind, msg) == _slip("unowned", i):
                return False, (
                    f"on {where} the pool went inconsistent ({msg}): a "
                    "cached block that nobody owns sits on the free list, "
                    "so sharing it takes it from there. Count such blocks "
                    "against num_free before allocating.")
            if (kind, msg) == _slip("partial", i):
                return False, (
                    f"on {where} the pool went inconsistent ({msg}): an "
                    "allocate that found the pool short had already shared "
                    "or taken blocks. Check the blocks you need against "
                    "num_free before changing anything, so a failed "
                    "allocate leaves the pool as it was.")
            return False, (f"on {where} the pool went inconsistent: {msg}. "
                           "Every block must be free or owned, and owned "
                           "exactly as often as tables name it.")
        if kind is pk.NoFreeBlocks:
            return False, (f"on {where} your manager let NoFreeBlocks "
                           "escape where the pool could serve the request: "
                           "check the blocks you need against num_free "
                           "before taking any.")
        raise err                  # the reader's error, told by the checker
    _, res, returned, used = got
    _, want, want_returned, _ = _reference(i)
    if any(r is None for r in returned):
        return False, (f"allocate returned None: {RETURNED_NONE} It returns "
                       "the number of prompt tokens found in the cache (0 "
                       "when none).")
    if used:
        return False, (f"after every request of {where} finished, {used} "
                       "blocks are still in use: free must release every "
                       "block of the sequence.")
    if res.prefix_hits == 0 and want.prefix_hits:
        return False, ("no prefix-cache hits: before taking a new block "
                       "for a full prompt block, look up its hash with "
                       "cached_block and share_block it when found.")
    if (got[:2] == ("ok", _slip("forward", i)[1])
            and not _same(res, want)):
        return False, ("close: you release a sequence's blocks first to "
                       "last. Release them last-first, so the blocks of a "
                       "shared prefix go to the back of the free list and "
                       "stay cached longest.")
    diffs = [f"{name}: yours {a}, reference {b}" for name, a, b in (
        ("blocks used at peak", res.peak_blocks, want.peak_blocks),
        ("preemptions", res.preemptions, want.preemptions),
        ("prefix-cache hits", res.prefix_hits, want.prefix_hits))
        if a != b]
    if diffs:
        return False, (f"not yet, on {where}: " + "; ".join(diffs) + ". "
                       "Take a block only when the last one is full, and "
                       "share only the leading run of cached full blocks.")
    if list(returned) != list(want_returned):
        k = next(j for j, (a, b) in enumerate(zip(returned, want_returned))
                 if a != b)
        return False, (f"on {where}, allocate call {k + 1} returned "
                       f"{returned[k]!r} where {want_returned[k]} prompt "
                       "tokens were found in the cache: return the cached "
                       "tokens (cached blocks x block_size), not blocks.")
    return None


def _same(a: pk.TraceResult, b: pk.TraceResult) -> bool:
    return (a.peak_blocks, a.preemptions, a.prefix_hits) == (
        b.peak_blocks, b.preemptions, b.prefix_hits)


class _ForwardFree(pk.BlockManager):
    """The reference with one known slip: blocks released first to last."""

    def free(self, seq_id: Any) -> None:
        for b in self.tables.pop(seq_id):
            self.release_block(b)
        del self.lengths[seq_id]


class _UnownedFree(pk.BlockManager):
    """The slip the worked solution warns of: cached blocks nobody owns
    not counted against the free blocks."""

    def _new_blocks_needed(self, tokens, hits=None) -> int:
        if hits is None:
            hits = self.cached_prefix(self.block_hashes(tokens))
        return self.blocks_needed(len(tokens)) - len(hits)


class _NoPrecheck(pk.BlockManager):
    """The slip of taking blocks until the pool runs out: a failed
    allocate leaves blocks taken."""

    def _new_blocks_needed(self, tokens, hits=None) -> int:
        return 0


_SLIPS = {"forward": _ForwardFree, "unowned": _UnownedFree,
          "partial": _NoPrecheck}


register(Custom("7.9", None, grader=_grade_manager,
                call="class MyBlockManager(pk.BlockPool)"))


# ---------------------------------------------------------------------------
# 7.10 Fewer KV heads, more sequences (the chapter's LLaMA-2 13B)
# ---------------------------------------------------------------------------
GQA = dict(D=5120, F=13824, L=40, N=40, H=128, V=32000, K=8, chip="v5e",
           chips=8, context=8192)                                     # 7.10


def _gqa_fit(K: int | None = None, weights_K: int | None = None) -> int:
    from scalebook import model as m

    g = GQA
    dims = {k: g[k] for k in "DFLNHV"}
    kv = m.Config(**dims, K=K or g["K"], name="ex7.10")
    w = m.Config(**dims, K=weights_K or K or g["K"], name="ex7.10w")
    free = g["chips"] * 16e9 - cnt.weight_bytes(w, "bf16")
    return int(free // inf.kv_bytes_per_seq(kv, g["context"]))


def _gqa_expected() -> int:
    from scalebook import model as m

    g = GQA
    cfg = m.Config(**{k: g[k] for k in "DFLNKHV"}, name="ex7.10")
    return inf.max_batch(cfg, g["chip"], g["chips"], g["context"])


register(Number("7.10", _gqa_expected, rtol=0, unit="sequences", hints=[
    wrong_value(_gqa_fit(K=40), "that is the chapter's count with all 40 "
                "KV heads; with K = 8 each cache is five times smaller."),
    wrong_value(_gqa_fit(weights_K=40), "the weights shrink too: wk and wv "
                "hold K = 8 heads, not 40."),
    wrong_value(_gqa_fit() + 1, "round down: a cache that does not fit "
                "whole cannot run."),
]))


# ---------------------------------------------------------------------------
# 7.11 The book's Part 7 model at 128k tokens on a v5e 4x4
# ---------------------------------------------------------------------------
LONG = dict(D=4096, F=16384, L=64, N=32, K=8, H=256, V=32128,
            tied_embeddings=True, chip="v5e", chips=16,
            context=131072)                                           # 7.11


def long_model(K: int | None = None) -> Any:
    """7.11's model (the reference book's Part 7 model), optionally with
    another number of KV heads."""
    from scalebook import config

    g = LONG
    return config.Config(**{k: g[k] for k in "DFLNHV"},
                         K=K or g["K"], tied_embeddings=g["tied_embeddings"],
                         name="ex7.11")


def _long_fit(kv: str = "int8", K: int | None = None) -> int:
    g = LONG
    return inf.max_batch(long_model(K), g["chip"], g["chips"], g["context"],
                         weight_dtype="bf16", kv_dtype=kv)


register(Number("7.11", _long_fit, rtol=0, unit="sequences", hints=[
    wrong_value(_long_fit("bf16"), "that is a bf16 cache; here the cache "
                "is int8, one byte per number."),
    wrong_value(_long_fit() + 1, "a cache that does not fit whole cannot "
                "run: round down, after the bf16 weights have taken their "
                "share of the HBM."),
    wrong_value(_long_fit(K=1), "that many fit with a single KV head; this "
                "model keeps K = 8."),
]))


# ---------------------------------------------------------------------------
# 7.12 Prefill of LLaMA-3 405B on a v5p slice, tensor parallel over 2 axes
# ---------------------------------------------------------------------------
PREFILL = dict(cfg="llama3-405b", chip="v5p", chips=64, tokens=8192,
               axes=2)                                                # 7.12


def prefill_split(axes: int | None = None) -> Any:
    """7.12's plan (`inference_plans.prefill_plan`); `axes` changes the
    number of mesh axes tensor parallelism uses."""
    from scalebook import inference_plans as ip

    g = PREFILL
    return ip.prefill_plan(g["cfg"], g["chip"], g["chips"], g["tokens"],
                           axes=axes or g["axes"])


def _split_part(key: str) -> Number:
    one_axis = getattr(prefill_split(axes=1), key)
    hints = []
    if one_axis != getattr(prefill_split(), key):
        hints.append(wrong_value(one_axis, "that is the split for one mesh "
                                 "axis; tensor parallelism over two axes "
                                 "doubles the limit, F x 2 / alpha."))
    return Number(f"7.12.{key}", lambda: getattr(prefill_split(), key),
                  rtol=0, unit="chips", hints=hints)


register(Parts("7.12", None, parts={k: _split_part(k)
                                    for k in ("tp", "seq")},
               order=("tp", "seq")))
