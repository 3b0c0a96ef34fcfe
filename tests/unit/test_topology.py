"""Hop counts on tori and meshes, wraparound rules, routes and pictures."""
import itertools

import pytest

from scalebook import hardware, topology


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 16])
def test_max_hops_is_n_minus_1_without_and_n_over_2_with_wraparound(n):
    assert topology.max_hops((n,), wraparound=False) == n - 1
    assert topology.max_hops((n,), wraparound=True) == n // 2
    brute = max(topology.hops((i,), (j,), (n,), True)
                for i in range(n) for j in range(n))
    assert brute == n // 2


def test_corner_to_corner_on_4x4():
    assert topology.hops((0, 0), (3, 3), (4, 4), wraparound=False) == 6
    assert topology.hops((0, 0), (3, 3), (4, 4), wraparound=True) == 2


def test_max_hops_of_4x4x4_cube_matches_brute_force():
    shape = (4, 4, 4)
    pts = list(itertools.product(range(4), repeat=3))
    for wrap in (True, False):
        brute = max(topology.hops((0, 0, 0), p, shape, wrap) for p in pts)
        if wrap:
            assert brute == topology.max_hops(shape, wrap) == 6
        else:  # the worst pair starts at a corner without wraparound
            assert brute == topology.max_hops(shape, wrap) == 9


def test_per_axis_wraparound_flags():
    # 8x16 on v5e: only the 16-long axis wraps.
    assert topology.max_hops((8, 16), (False, True)) == 7 + 8
    with pytest.raises(ValueError, match="one per axis"):
        topology.hops((0, 0), (1, 1), (4, 4), (True,))


def test_mean_hops_matches_brute_force_average():
    shape = (3, 4)
    pts = list(itertools.product(range(3), range(4)))
    for wrap in (True, False):
        pairs = [(a, b) for a in pts for b in pts if a != b]
        brute = sum(topology.hops(a, b, shape, wrap)
                    for a, b in pairs) / len(pairs)
        assert topology.mean_hops(shape, wrap) == pytest.approx(brute)
    assert topology.mean_hops((1,)) == 0.0


@pytest.mark.parametrize("wrap", [True, False])
def test_route_is_a_shortest_chain_of_neighbours(wrap):
    shape = (5, 4)
    for a, b in [((0, 0), (4, 3)), ((2, 1), (0, 3)), ((1, 1), (1, 1))]:
        path = topology.route(a, b, shape, wrap)
        assert path[0] == a and path[-1] == b
        assert len(path) - 1 == topology.hops(a, b, shape, wrap)
        for p, q in zip(path, path[1:]):
            assert q in topology.neighbors(p, shape, wrap)


def test_neighbour_counts_2d_and_3d():
    assert len(topology.neighbors((1, 1), (4, 4))) == 4
    assert len(topology.neighbors((0, 0), (4, 4), wraparound=False)) == 2
    assert len(topology.neighbors((0, 0, 0), (4, 4, 4))) == 6
    # a 2-long axis has one neighbour whether it wraps or not
    assert len(topology.neighbors((0, 0), (2, 4))) == 3


def test_wraparound_rules_per_generation():
    assert topology.wraps("v5e", (16, 16)) == (True, True)
    assert topology.wraps("v5e", (8, 16)) == (False, True)
    assert topology.wraps("v5e", (4, 4)) == (False, False)
    assert topology.wraps("v5p", (4, 4, 8)) == (True, True, True)
    assert topology.wraps("v5p", (2, 2, 4)) == (False, False, False)
    with pytest.raises(ValueError, match="larger than a full"):
        topology.wraps("v5e", (32, 16))
    with pytest.raises(ValueError, match="not a TPU"):
        topology.wraps("H100", (8,))
    with pytest.raises(ValueError, match="axes"):
        topology.wraps("v5p", (4, 4))


def test_send_time_is_hop_latency_plus_bytes_over_links():
    c = hardware.chip("v5e")
    t = topology.send_time(1e6, (0, 0), (3, 3), (4, 4), c, wraparound=False)
    assert t == pytest.approx(6 * hardware.ICI_HOP_LATENCY + 1e6 / c.link_bw)
    t2 = topology.send_time(1e6, (0, 0), (3, 3), (4, 4), c, False, links=2)
    assert t2 == pytest.approx(6 * hardware.ICI_HOP_LATENCY
                               + 1e6 / (2 * c.link_bw))
    assert topology.send_time(1e6, (1, 1), (1, 1), (4, 4), c) == 0.0
    with pytest.raises(ValueError, match="links"):
        topology.send_time(1e6, (0, 0), (1, 1), (4, 4), c, links=0)


def test_off_grid_chip_is_reported():
    with pytest.raises(ValueError, match="not on a 4x4 grid"):
        topology.hops((0, 4), (0, 0), (4, 4))
