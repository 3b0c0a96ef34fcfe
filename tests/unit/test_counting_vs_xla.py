"""scalebook.counting against the real model: its leaves and XLA's FLOPs.

The formulas count matmuls only; XLA also counts the elementwise work
(softmax, norms, RoPE, SiLU, residual adds), so whole-model counts agree
within a stated tolerance while single matmuls agree exactly.
"""
import jax
import jax.numpy as jnp
import pytest

from scalebook import bench
from scalebook import counting as c
from scalebook import model as m
from scalebook.model import param_structs
from scalebook.model_xla import component_flops, xla_forward_flops

# Big enough that matmuls dominate, small enough to compile in seconds.
SHAPES = {
    "mha": m.Config(D=256, F=1024, L=2, N=8, K=8, H=32, V=512),
    "gqa": m.Config(D=256, F=1024, L=2, N=8, K=2, H=32, V=512),
    "mqa": m.Config(D=256, F=1024, L=2, N=8, K=1, H=32, V=512),
}
WORK = m.Workload(B=2, T=128)
FORWARD_RTOL = 0.02   # elementwise work is < 1% at these shapes
TRAIN_RTOL = 0.03


def _leaf_total(tree) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("name", ["tiny", "tiny-gqa", "tiny-mqa",
                                  "tiny-wide", "tiny-tied"])
def test_param_count_equals_model_leaves_for_presets(name):
    assert c.param_count(name) == _leaf_total(param_structs(name))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_param_count_equals_model_leaves_for_test_shapes(shape):
    assert c.param_count(SHAPES[shape]) == _leaf_total(
        param_structs(SHAPES[shape]))


def test_each_component_count_equals_its_leaf():
    # eval_shape runs init_params' own code abstractly: the same leaves,
    # no random numbers drawn.
    for name in ("tiny-gqa", "tiny-tied"):
        cfg = m.preset(name)
        params = param_structs(cfg)
        counts = c.param_counts(cfg)
        for leaf, arr in params["layers"].items():
            assert counts[leaf] == arr.size, (name, leaf)
        for leaf in ("embed", "final_norm"):
            assert counts[leaf] == params[leaf].size
        assert counts["unembed"] == (params["unembed"].size
                                     if "unembed" in params else 0)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_forward_flops_match_xla_within_2pct(shape):
    cfg = SHAPES[shape]
    got = xla_forward_flops(cfg, work=WORK)
    want = c.forward_flops_total(cfg, work=WORK)
    # XLA counts more (elementwise work), never less.
    assert want <= got <= want * (1 + FORWARD_RTOL), (got, want)


def test_each_matmul_alone_matches_xla_exactly_and_extras_are_small():
    rows = {name: (want, got) for name, want, got
            in component_flops(SHAPES["gqa"], work=WORK)}
    for name, (want, got) in rows.items():
        if name.split()[0] in ("Q", "K", "V", "O", "scores", "weighted",
                               "unembedding"):
            assert got == want, name
        elif want:  # matmuls plus elementwise work: a little more
            assert want < got < want * 1.06, name
    # Norms and RoPE are no matmuls: small but not zero.
    assert 0 < rows["RMSNorm"][1] < 0.01 * rows["Q projection  x·Wq"][1]


def test_training_step_flops_are_three_forwards_within_3pct():
    # One layer keeps the backward compile quick; GQA exercises the grouping.
    cfg = m.Config(D=256, F=1024, L=1, N=8, K=2, H=32, V=512)
    # loss() predicts token t+1 from tokens up to t: feed T+1 tokens.
    tokens = jax.ShapeDtypeStruct((WORK.B, WORK.T + 1), jnp.int32)
    got = bench.flops(lambda p, t: jax.value_and_grad(m.loss)(p, t, cfg),
                      param_structs(cfg), tokens)
    want = c.train_flops_total(cfg, work=WORK)
    assert want <= got <= want * (1 + TRAIN_RTOL), (got, want)
