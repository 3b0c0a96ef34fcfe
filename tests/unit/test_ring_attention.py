"""Ring attention on the simulated devices against its cost model
(Chapter 5): parity with gradients, the compiled collectives, memory and
the zig-zag balance of causal work."""
from __future__ import annotations

import pytest

from scalebook import context_parallel as cp
from scalebook import ring_check as rc

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case


@pytest.mark.parametrize("P,layout", [(2, "zigzag"), (4, "contiguous"),
                                      (8, "zigzag")])
def test_ring_attention_and_its_gradients_equal_full_attention(P, layout):
    d_out, d_grad = rc.parity(P, layout)
    assert d_out < 1e-5 and d_grad < 1e-5


@pytest.mark.parametrize("P", [2, 4, 8])
def test_ring_compiles_p_minus_1_permutes_of_the_model_bytes_and_no_gather(P):
    c = rc.collectives(P)
    assert c.permutes == P - 1 == c.model.count
    assert c.permute_bytes == c.model.total          # to the byte
    assert c.gathers == 0 and c.gather_bytes == 0


def test_the_gather_form_moves_the_same_bytes_as_the_ring():
    sh = rc.SHAPE
    c = rc.collectives(4, form="allgather")
    assert c.permutes == 0 and c.gathers == 2        # K and V
    assert c.gather_bytes == pytest.approx(cp.allgather_kv_bytes(
        sh["B"], sh["T"], sh["K"], sh["H"], 4, 4))
    assert c.gather_bytes == pytest.approx(rc.collectives(4).permute_bytes)


def test_ring_memory_falls_with_p_and_the_gathered_form_does_not():
    ring = [rc.memory(P, "ring") for P in (2, 4, 8)]
    gath = [rc.memory(P, "allgather") for P in (2, 4, 8)]
    for used, model in ring + gath:
        assert 0.75 < model / used <= 1.05
    assert ring[2][0] < 0.25 * ring[0][0]           # about 1/P
    assert gath[2][0] > 1.5 * ring[2][0]            # K and V stay whole
    sh = rc.MEMORY_SHAPE
    kv = 2 * sh["B"] * sh["T"] * sh["K"] * sh["H"] * 4
    assert all(used > kv for used, _ in gath)


def test_zigzag_balances_causal_flops_where_contiguous_does_not():
    P = 4
    zz, zz_model = rc.flops(P, "zigzag")
    co, co_model = rc.flops(P, "contiguous")
    assert max(zz) / min(zz) < 1.10
    mean = sum(co) / P
    assert max(co) / mean > 1.5                       # about 2x as P grows
    # the compiled counts follow the model's matmul FLOPs device by device,
    # plus the softmax's elementwise work per score (a fixed share)
    ratios = [g / mo for got, model in ((zz, zz_model), (co, co_model))
              for g, mo in zip(got, model)]
    assert all(1.0 <= r < 1.3 for r in ratios)
    assert max(ratios) / min(ratios) < 1.02
