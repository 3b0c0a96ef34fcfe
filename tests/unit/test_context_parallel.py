"""The JAX-free cost model of context parallelism (Chapter 5)."""
from __future__ import annotations

import pytest

from scalebook import context_parallel as cp


def test_zigzag_gives_each_device_one_early_and_one_late_chunk():
    assert cp.chunks(4, "zigzag") == [(0, 7), (1, 6), (2, 5), (3, 4)]
    assert cp.chunks(4, "contiguous") == [(0, 1), (2, 3), (4, 5), (6, 7)]
    for layout in cp.LAYOUTS:
        held = sorted(c for pair in cp.chunks(8, layout) for c in pair)
        assert held == list(range(16))


def test_positions_are_a_permutation_in_device_order():
    pos = cp.positions(16, 4, "zigzag")
    assert sorted(pos) == list(range(16))
    assert pos[:4] == [0, 1, 14, 15]


@pytest.mark.parametrize("P", [2, 4, 8, 16])
def test_zigzag_balances_causal_work_and_contiguous_does_not(P):
    zz = cp.causal_blocks(P, "zigzag")
    assert set(zz) == {2 * P + 1}
    co = cp.causal_blocks(P, "contiguous")
    assert sum(co) == sum(zz)            # the same total work
    assert co == [4 * i + 3 for i in range(P)]
    assert max(co) / (sum(co) / P) == pytest.approx((4 * P - 1) / (2 * P + 1))


def test_causal_blocks_count_every_visible_pair_once():
    for P in (2, 4, 8):
        for layout in cp.LAYOUTS:
            assert sum(cp.causal_blocks(P, layout)) == 2 * P * (2 * P + 1) / 2


def test_ring_moves_the_bytes_of_an_all_gather_in_p_minus_1_hops():
    for P in (2, 4, 8):
        r = cp.ring_collectives(2, 64, 2, 16, P, dtype_bytes=4)
        assert r.count == P - 1
        assert r.bytes_each == 2 * 2 * (64 / P) * 2 * 16 * 4
        assert r.total == pytest.approx(cp.allgather_kv_bytes(2, 64, 2, 16, P,
                                                              4))


def test_ring_memory_falls_as_one_over_p_where_the_gather_does_not():
    ring = [cp.memory(1, 512, 2, 2, 64, P, "ring", 4) for P in (2, 4, 8, 16)]
    gath = [cp.memory(1, 512, 2, 2, 64, P, "allgather", 4)
            for P in (2, 4, 8, 16)]
    assert all(a / b > 1.9 for a, b in zip(ring, ring[1:]))
    kv = 2 * 512 * 2 * 64 * 4
    assert all(g > kv for g in gath)     # never below the whole K and V
    assert gath[-1] / gath[-2] > 0.8


def test_ring_hides_its_hops_above_a_threshold_that_doubles_when_causal():
    full = cp.ring_min_tokens(64, 8, "v5p", causal=False)
    assert cp.ring_min_tokens(64, 8, "v5p") == pytest.approx(2 * full)
    from scalebook import hardware
    c = hardware.chip("v5p")
    assert full == pytest.approx(8 * 2 * c.peak_flops("bf16")
                                 / (2 * 64 * c.link_bw))


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="divisible by 8"):
        cp.positions(20, 4)
    with pytest.raises(ValueError, match="zigzag"):
        cp.chunks(4, "striped")
    with pytest.raises(ValueError, match="positive"):
        cp.chunks(0)
    with pytest.raises(ValueError, match="ring"):
        cp.memory(1, 64, 2, 2, 8, 2, form="gather")
