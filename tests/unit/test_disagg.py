"""Disaggregated serving for real (Chapter 8): the KV cache moves from a
prefill group to a disjoint decode group with jax.device_put, decoding
continues with the same tokens, and the bytes moved are the model's."""
import jax
import numpy as np
import pytest

from scalebook import disagg as dg
from scalebook import inference as inf
from scalebook import model as m

CFG = m.Config(D=32, F=64, L=1, N=4, K=2, H=8, V=64, name="disagg-test")


@pytest.fixture(scope="module")
def setup():
    params = m.init_params(CFG, jax.random.key(0))
    prompts = np.random.default_rng(0).integers(0, CFG.V, (2, 6))
    return params, prompts, dg.groups(2)


def test_handoff_tokens_equal_one_group_and_bytes_equal_the_model(setup):
    params, prompts, (pre, dec) = setup
    h = dg.handoff(params, CFG, prompts, 5, pre, dec)
    assert h.tokens == dg.together(params, CFG, prompts, 5, pre)
    assert set(h.prefill_devices).isdisjoint(h.decode_devices)
    want = 2 * inf.kv_bytes_per_seq(CFG, 6, "f32")
    assert h.moved_bytes == h.predicted_bytes == want
    assert all(len(t) == 5 for t in h.tokens)


def test_overlapping_groups_are_refused(setup):
    params, prompts, (pre, _) = setup
    with pytest.raises(ValueError, match="disjoint"):
        dg.handoff(params, CFG, prompts, 3, pre, pre)
    with pytest.raises(ValueError, match="smaller model axis"):
        dg.groups(8)
