"""The paged KV cache's block manager: it never loses or double-assigns a
block, under preemption and prefix sharing (a seeded property test over
random request traces), shares exactly the full blocks of a common
prefix, and refuses requests that can never fit."""
import doctest
import random

import pytest

from scalebook import paged_kv as pk

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case


def test_doctest():
    assert doctest.testmod(pk).failed == 0


def test_blocks_are_taken_only_when_the_last_one_fills():
    m = pk.BlockManager(num_blocks=10, block_size=4)
    m.allocate("a", [1, 2, 3])
    assert len(m.block_table("a")) == 1
    m.append("a")                       # 4 tokens: still one block
    assert len(m.block_table("a")) == 1
    m.append("a")                       # the 5th token opens block 2
    assert len(m.block_table("a")) == 2 and m.num_used == 2
    m.free("a")
    assert m.num_used == 0 and m.num_free == 10
    m.check()


def test_shared_prefix_blocks_are_reference_counted():
    m = pk.BlockManager(num_blocks=10, block_size=4)
    system = [7, 7, 7, 7, 8, 8, 8, 8]
    assert m.allocate("a", system + [1]) == 0
    assert m.allocate("b", system + [2, 3]) == 8      # two full blocks hit
    ta, tb = m.block_table("a"), m.block_table("b")
    assert ta[:2] == tb[:2] and ta[2] != tb[2]
    assert [m.ref[b] for b in ta[:2]] == [2, 2]
    assert m.hits == 2 and m.num_used == 4
    m.free("a")
    assert [m.ref[b] for b in tb[:2]] == [1, 1]
    m.free("b")
    # Freed blocks keep their prefix: a third request still hits them.
    assert m.allocate("c", system + [5]) == 8
    m.check()


def test_a_different_block_before_breaks_the_match():
    """Blocks are named by their whole prefix, not their own tokens."""
    m = pk.BlockManager(num_blocks=10, block_size=2)
    m.allocate("a", [1, 2, 3, 4])
    assert m.allocate("b", [9, 9, 3, 4]) == 0


def test_allocation_is_all_or_nothing():
    m = pk.BlockManager(num_blocks=3, block_size=2)
    m.allocate("a", [1, 2, 3])
    with pytest.raises(pk.NoFreeBlocks):
        m.allocate("b", [5, 6, 7, 8, 9])
    assert "b" not in m.tables and m.num_free == 1
    m.check()


def test_requests_that_can_never_fit_are_refused():
    with pytest.raises(ValueError, match="does not divide"):
        pk.BlockManager(num_blocks=8, block_size=3, max_context=64)
    m = pk.BlockManager(num_blocks=8, block_size=4, max_context=16)
    with pytest.raises(ValueError, match="longer than the cache"):
        m.allocate("a", list(range(17)))
    small = pk.BlockManager(num_blocks=2, block_size=4)
    with pytest.raises(ValueError, match="only 2"):
        small.allocate("a", list(range(9)))


def test_replay_reports_rejected_requests():
    m = pk.BlockManager(num_blocks=8, block_size=4, max_context=16)
    res = pk.replay(m, [("arrive", 0, list(range(40))), ("step",),
                        ("arrive", 1, [1, 2]), ("step",), ("finish", 1)])
    assert [r[0] for r in res.rejected] == [0]
    assert "longer than the cache" in res.rejected[0][1]
    assert res.finished == 1


def test_preemption_frees_the_newest_sequence():
    m = pk.BlockManager(num_blocks=4, block_size=2)
    trace = [("arrive", 0, [1, 2]), ("arrive", 1, [3, 4]), ("step",),
             ("step",), ("step",)]
    res = pk.replay(m, trace, check=True)
    assert res.preemptions >= 1
    assert 1 not in m.tables and 0 in m.tables      # the newer one went


@pytest.mark.parametrize("seed", range(60))
def test_no_block_is_lost_or_double_assigned_on_random_traces(seed):
    """Property test (seeded; no hypothesis needed): random pools, block
    sizes and traces with shared prefixes and preemption keep every
    invariant of `BlockPool.check` after every event, and finishing every
    request returns every block."""
    rng = random.Random(seed)
    bs = rng.choice([1, 2, 3, 4, 8])
    m = pk.BlockManager(num_blocks=rng.randint(4, 40), block_size=bs,
                        prefix_caching=rng.random() < 0.8)
    trace = pk.random_trace(seed, n_requests=rng.randint(5, 30),
                            prefix_len=rng.choice([bs, 2 * bs, 5]),
                            max_reply=rng.randint(1, 20))
    res = pk.replay(m, trace, check=True)
    assert m.num_used == 0 and m.num_free == m.num_blocks
    assert res.peak_blocks <= m.num_blocks
    assert res.finished + len(res.rejected) == sum(
        1 for e in trace if e[0] == "arrive")


def test_the_property_test_can_fail():
    """check() catches a double-assigned and a lost block."""
    m = pk.BlockManager(num_blocks=4, block_size=2)
    m.allocate("a", [1, 2, 3])
    m.tables["b"] = [m.tables["a"][0]]            # double-assigned
    m.lengths["b"] = 1
    with pytest.raises(AssertionError):
        m.check()
    m2 = pk.BlockManager(num_blocks=4, block_size=2)
    m2.take_block()                               # owned by no table
    with pytest.raises(AssertionError):
        m2.check()


def test_preemption_happens_in_random_traces():
    """The random traces do exercise preemption and prefix hits."""
    pre = hits = 0
    for seed in range(20):
        m = pk.BlockManager(num_blocks=12, block_size=2)
        r = pk.replay(m, pk.random_trace(seed, n_requests=20))
        pre += r.preemptions
        hits += r.prefix_hits
    assert pre > 0 and hits > 0
