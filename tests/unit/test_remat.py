"""Rematerialisation (Chapter 4): the gradient does not change, and XLA's
FLOPs and temporaries move the way the formulas say (and where they do
not, the way the chapter explains)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook import counting as cnt
from scalebook import model as m
from scalebook import model_xla
from scalebook import remat as rm

CFG = m.Config(D=64, F=256, L=4, N=2, K=1, H=32, V=64, name="remat-test")
B, T = 1, 32


@pytest.fixture(scope="module")
def costs():
    return {r.remat: r for r in model_xla.remat_costs(CFG, B, T)}


def test_remat_leaves_the_loss_and_gradient_unchanged():
    layers = m.init_params(CFG, jax.random.key(0))["layers"]
    x = jax.random.normal(jax.random.key(1), (B, T, CFG.D))
    def run(r):  # compiled quickly: only the values are checked
        return jax.jit(rm.stack_grad(r)).lower(layers, x).compile(
            compiler_options={"xla_backend_optimization_level": 0})(layers, x)
    want_v, want_g = run("none")
    for r in ("dots", "block"):
        v, g = run(r)
        np.testing.assert_allclose(v, want_v, rtol=1e-5)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(want_g)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_training_without_remat_is_three_forwards(costs):
    assert costs["none"].factor == 3
    assert 3 <= costs["none"].ratio < 3.15   # + softmax, norms, SiLU
    assert 3 <= costs["dots"].ratio < 3.2    # + recomputed elementwise work


def test_block_remat_recomputes_every_matmul_but_the_last(costs):
    f = cnt.layer_forward_flops(CFG, B, T)
    skipped = f["down"] / sum(f.values())
    assert costs["block"].factor == 4
    extra = costs["block"].ratio - costs["none"].ratio
    assert extra == pytest.approx(1 - skipped, abs=0.04)


def test_temporaries_shrink_with_remat_and_dots_keep_the_matmul_outputs(
        costs):
    none, dots, block = (costs[r].temp_bytes for r in rm.REMATS)
    assert none > dots > block
    out = cnt.matmul_output_elements(CFG, B, T)
    kept = CFG.L * (sum(out.values()) - B * T * CFG.D) * 4  # f32
    assert dots - block == pytest.approx(kept, rel=0.15)


def test_unknown_remat_names_the_choices():
    with pytest.raises(ValueError, match="none, dots, block"):
        rm.policy("half")
