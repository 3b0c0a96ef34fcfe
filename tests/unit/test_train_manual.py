"""Collectives written by hand (Chapter 5): ZeRO-2's psum_scatter of the
gradients and the sequence-parallel residual stream, against the cost
model's bytes and memory, and against one device."""
import pytest

from scalebook import comms
from scalebook import train_check as tc
from scalebook import train_manual as tm
from scalebook import train_parallel as tp


def test_zero2_reduce_scatters_gradients_and_matches_one_device():
    p = tc.prove_zero2(tp.DEMO)
    kinds = {r.kind: r for r in p.rows}
    assert set(kinds) == {"all-reduce", "reduce-scatter", "all-gather"}
    rs, ag = kinds["reduce-scatter"], kinds["all-gather"]
    assert rs.hlo == rs.expected > 0 and ag.hlo == ag.expected > 0
    assert kinds["all-reduce"].hlo == kinds["all-reduce"].expected < 16
    assert p.inputs_model == p.inputs_measured
    assert p.parity < 5e-5 and p.ok


@pytest.mark.parametrize("n", [4, 8])
def test_sequence_parallel_stream_swaps_all_reduce_for_gather_and_scatter(n):
    tok, D = 64, 32
    whole = tc.prove_residual("tp", n, tok, D, 128)
    split = tc.prove_residual("sp", n, tok, D, 128)
    assert [r.kind for r in whole.rows] == ["all-reduce"]
    assert sorted(r.kind for r in split.rows) == ["all-gather",
                                                 "reduce-scatter"]
    V = tok * D * 4
    assert whole.rows[0].hlo == comms.ring_bytes_per_device(
        "all-reduce", V, n)
    assert sum(r.hlo for r in split.rows) == whole.rows[0].hlo
    assert whole.ok and split.ok
    assert whole.parity < 1e-5 and split.parity < 1e-5
    weights = 2 * D * 128 * 4 / n
    assert (split.inputs_measured - weights) * n == pytest.approx(
        whole.inputs_measured - weights)


def test_residual_block_errors_name_the_fix():
    with pytest.raises(ValueError, match="choose 'tp' or 'sp'"):
        tm.residual_block("fsdp")
    with pytest.raises(ValueError, match="multiples of n"):
        tm.residual_block("sp", n=8, tokens=12)
