"""The ring collectives played out step by step (Chapter 3): every device
ends with every shard, and counting the busiest link gives comms' times."""
import pytest

from scalebook import comms, hardware, ring, topology


@pytest.mark.parametrize("layout", list(ring.LAYOUTS))
@pytest.mark.parametrize("n", range(1, 13))
def test_allgather_schedule_delivers_every_shard_to_every_device(layout, n):
    sched = ring.allgather_schedule(n, **ring.LAYOUTS[layout])
    assert ring.holdings(sched, n) == [set(range(n))] * n
    for step in sched:  # each send crosses one link between neighbours
        for x in step:
            assert topology.axis_hops(x.src, x.dst, n,
                                      ring.LAYOUTS[layout]["wraparound"]) == 1


@pytest.mark.parametrize("layout", list(ring.LAYOUTS))
@pytest.mark.parametrize("n", [2, 3, 4, 7, 8, 16])
def test_steps_are_the_ring_hops_of_the_axis(layout, n):
    kw = ring.LAYOUTS[layout]
    assert len(ring.allgather_schedule(n, **kw)) == topology.ring_hops(n, **kw)


def test_a_link_carries_at_most_one_shard_per_step():
    for kw in ring.LAYOUTS.values():
        for step in ring.allgather_schedule(8, **kw):
            assert max(ring.link_shards(step).values()) == 1


@pytest.mark.parametrize("kind", ring.KINDS)
@pytest.mark.parametrize("layout", list(ring.LAYOUTS))
@pytest.mark.parametrize("n", [3, 4, 5, 8, 16])
def test_counted_time_equals_comms_closed_form(kind, layout, n):
    kw = ring.LAYOUTS[layout]
    counted = ring.ring_time(kind, 3.2e7, n, "v5e", **kw)
    formula = comms.ring_time(kind, 3.2e7, n, "v5e", **kw)
    assert counted == pytest.approx(formula, rel=1e-12)


def test_bidirectional_allgather_takes_V_over_W_ici_whatever_n():
    c = hardware.chip("v5p")
    for n in (2, 4, 8, 16):
        t = ring.ring_time("all-gather", 1e9, n, c)
        assert t == pytest.approx(1e9 / c.ici_axis_bw)


def test_allreduce_is_twice_and_alltoall_a_quarter_of_the_allgather():
    ag = ring.busiest_link("all-gather", 8)
    assert ring.busiest_link("all-reduce", 8) == pytest.approx(2 * ag)
    assert ring.busiest_link("all-to-all", 8) == pytest.approx(ag / 4)


def test_without_wraparound_the_allgather_is_2_n_minus_1_over_n_slower():
    for n in (4, 8, 16):
        slow = ring.busiest_link("all-gather", n, wraparound=False)
        assert slow / ring.busiest_link("all-gather", n) == \
            pytest.approx(2 * (n - 1) / n)


def test_alltoall_loads_add_up_to_every_message_times_its_hops():
    n = 6
    for kw in ring.LAYOUTS.values():
        total = sum(ring.alltoall_loads(n, **kw).values())
        hops = sum(min(abs(i - j), n - abs(i - j))
                   if kw["wraparound"] and kw["bidirectional"]
                   else (j - i) % n if kw["wraparound"] else abs(i - j)
                   for i in range(n) for j in range(n))
        assert total == pytest.approx(hops / n**2)


def test_holdings_refuses_a_send_of_a_shard_not_yet_held():
    bad = ((ring.Send(0, 0, 1, 3),),)
    with pytest.raises(ValueError, match="does not hold yet"):
        ring.holdings(bad, 4)


def test_bad_sizes_and_kinds_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="positive whole number"):
        ring.allgather_schedule(0)
    with pytest.raises(ValueError, match="not a ring collective"):
        ring.busiest_link("collective-permute", 4)
    with pytest.raises(ValueError, match="not a TPU"):
        ring.ring_time("all-gather", 1.0, 4, "H100")
