"""The training cost model prices ring attention (context parallelism
round a ring) beside gathering K and V, and the planner can choose it
(Chapter 5).  JAX-free."""
import pytest

from scalebook import context_parallel as cp
from scalebook import parallelism as par
from scalebook import planner as pl
from scalebook.config import resolve

CFG = "llama3-8b"


def _lay(P, context, **kw):
    return par.Layout(data=kw.pop("data", 1), seq=P, zero=3,
                      context=context, **kw)


def test_ring_kv_memory_falls_as_one_over_p_where_the_gather_does_not():
    T, B = 65536, 4
    ring = [par.kv_bytes(CFG, _lay(P, "ring"), B, T) for P in (4, 8, 16)]
    gath = [par.kv_bytes(CFG, _lay(P, "allgather"), B, T)
            for P in (4, 8, 16)]
    assert ring[0] / ring[1] == pytest.approx(2)
    assert ring[1] / ring[2] == pytest.approx(2)
    assert all(g2 > g1 for g1, g2 in zip(gath, gath[1:]))   # (P-1)/P
    c = resolve(CFG)
    whole = B * T * 2 * c.K * c.H * 2             # bf16 K and V, all of T
    assert gath[-1] == pytest.approx(whole * 15 / 16)
    # P = 2: the ring holds the one other block, as the gather does
    assert par.kv_bytes(CFG, _lay(2, "ring"), B, T) == pytest.approx(
        par.kv_bytes(CFG, _lay(2, "allgather"), B, T))
    m = par.memory(CFG, _lay(16, "ring"), B, T)
    assert m.kv == pytest.approx(ring[-1]) and m.total > m.kv


@pytest.mark.parametrize("P", [2, 4, 8])
def test_ring_hops_carry_the_gathers_bytes_as_p_minus_1_permutes(P):
    T, B = 32768, 8
    ring = par.collectives(CFG, _lay(P, "ring"), B, T, remat="none")
    gath = par.collectives(CFG, _lay(P, "allgather"), B, T, remat="none")
    fwd_ring = [c for c in ring if c.phase == "forward"
                and c.what == "key/value blocks"]
    fwd_gath = [c for c in gath if c.phase == "forward"
                and c.what == "keys and values"]
    assert [c.kind for c in fwd_ring] == ["collective-permute"]
    assert not any(c.what == "keys and values" for c in ring)
    lay = _lay(P, "ring")
    assert fwd_ring[0].count == (P - 1) * resolve(CFG).L
    assert fwd_ring[0].array_bytes == pytest.approx(
        cp.ring_collectives(B, T, resolve(CFG).K, resolve(CFG).H, P).bytes_each)
    assert sum(c.bytes_per_device(lay) for c in fwd_ring) == pytest.approx(
        sum(c.bytes_per_device(_lay(P, "allgather")) for c in fwd_gath))


def test_ring_hops_hide_above_the_context_parallel_threshold_only():
    c = resolve(CFG)
    t_min = cp.ring_min_tokens(c.N, c.K, "v5p")
    P, B = 8, 1

    def exposed(tokens_per_device):
        T = int(tokens_per_device) * P
        return par.step_cost(CFG, _lay(P, "ring"), B, T, "v5p",
                             bandwidth_only=True, remat="none").exposed

    assert exposed(t_min * 1.25) == 0
    assert exposed(t_min * 0.75) > 0
    # below the threshold the ring waits; the step prices the wait
    T = int(t_min * 0.5) * P
    sc = par.step_cost(CFG, _lay(P, "ring"), B, T, "v5p")
    assert sc.time == pytest.approx(max(sc.compute, sc.comm) + sc.exposed)
    assert sc.exposed > 0


def test_planner_puts_long_sequences_on_a_ring_context_axis():
    long = pl.plan(CFG, 2, 1 << 20, "v5p", 64, max_pipeline=1,
                   contexts=par.CONTEXTS)
    best = long.best.layout
    assert best.seq > 1 and best.context == "ring"
    assert "(ring)" in str(best)
    only_gather = pl.plan(CFG, 2, 1 << 20, "v5p", 64, max_pipeline=1,
                          contexts=("allgather",))
    assert only_gather.best.layout.context == "allgather"
    same = par.Layout(data=best.data, tensor=best.tensor, seq=best.seq,
                      zero=best.zero, context="allgather")
    assert long.best.cost.memory.kv < par.kv_bytes(CFG, same, 2, 1 << 20)
    # short sequences, many of them: no seq axis is needed
    short = pl.plan(CFG, 256, 4096, "v5p", 64, max_pipeline=1,
                    contexts=par.CONTEXTS)
    assert short.best.layout.seq == 1


def test_bad_context_names_the_choices():
    with pytest.raises(ValueError, match="allgather, ring"):
        par.Layout(seq=2, context="gather")
    with pytest.raises(ValueError, match="contexts are some of"):
        pl.plan(CFG, 8, 4096, "v5p", 8, contexts=("ringg",))
