"""Pipeline parallelism on the simulated devices: the bubble counted from
the run equals (p-1)/(m+p-1), gradients equal the unpipelined step, the
permutes in HLO are the schedule's, and 1F1B keeps fewer microbatches
than GPipe."""
import functools

import jax
import jax.numpy as jnp
import pytest

from scalebook import hlo
from scalebook import model as m
from scalebook import parallelism as par
from scalebook import pipeline as pp
from scalebook import train_check as tc
from scalebook import train_parallel as tp

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

CFG = pp._demo_cfg()


# The gradients of every schedule against the unpipelined step, and the
# bubble counted from the run against the formula: test_pipeline_schedules.


@pytest.mark.parametrize("m_", [1, 2, 5, 8])
@pytest.mark.parametrize("kind", ["gpipe", "1f1b"])
def test_schedule_bubble_equals_the_formula(kind, m_):
    s = par.timeline(kind, 4, m_)
    assert s.idle_fraction == pytest.approx(par.bubble_fraction(4, m_))
    assert s.ticks == 2 * (m_ + 3)


def test_1f1b_holds_at_most_p_microbatches_gpipe_all_m():
    assert par.timeline("gpipe", 4, 8).max_in_flight == 8
    assert par.timeline("1f1b", 4, 8).max_in_flight == 4


@functools.lru_cache(maxsize=None)
def _compiled(kind, mbs):
    fn, sched, _ = pp.make_grad_fn(CFG, 4, mbs, kind=kind, data=2,
                                   batch=16)
    params = jax.eval_shape(lambda k: m.init_params(CFG, k),
                            jax.random.key(0))
    tokens = jax.ShapeDtypeStruct((16, 33), jnp.int32)
    return fn.lower(params, tokens).compile(), sched


@pytest.mark.parametrize("kind", ["gpipe", "1f1b"])
def test_permutes_in_hlo_are_one_per_direction_per_tick(kind):
    compiled, sched = _compiled(kind, 8)
    perms = [c for c in hlo.collectives(compiled)
             if c.kind == "collective-permute"]
    assert len(perms) == 2
    assert all(c.mesh_axes == ("stage",) for c in perms)
    got = sum(c.total_bytes for c in perms)
    assert got == pp.expected_permute_bytes(CFG, sched, 16, data=2)
    # the textbook's useful sends are the 2m of them
    useful = [c for c in par.collectives(
        CFG, pp.layout(4, 8, kind, 2), 16, 32, precision="f32")
        if c.kind == "collective-permute"]
    lay = pp.layout(4, 8, kind, 2)
    book = sum(c.bytes_per_device(lay) for c in useful)
    assert got / book == pytest.approx(sched.ticks / 8)


def test_1f1b_needs_less_memory_than_gpipe():
    g = tc.memory_bytes(_compiled("gpipe", 8)[0])
    f = tc.memory_bytes(_compiled("1f1b", 8)[0])
    assert f < g


def test_pipelined_training_steps_equal_the_single_device_run():
    step, _, _ = pp.make_step(CFG, 4, 4, kind="1f1b", data=2, batch=8)
    params = m.init_params(CFG, jax.random.key(0))
    opt = m.init_adam(params)
    ref_p, ref_o = params, opt
    ref_step = jax.jit(lambda p, o, t: m.train_step(p, o, t, CFG))
    data = tp.batches(CFG, 2, 8)
    params = jax.tree.map(jnp.copy, params)
    opt = jax.tree.map(jnp.copy, opt)
    for i in range(2):
        ref_p, ref_o, _ = ref_step(ref_p, ref_o, data[i])
        params, opt, _ = step(params, opt, data[i])
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree.leaves(params), jax.tree.leaves(ref_p)))
    assert diff < 5e-5


def test_a_batch_too_small_for_the_pipeline_names_the_fix():
    with pytest.raises(ValueError, match="too small for the pipeline"):
        pp.make_grad_fn(CFG, 4, 2, batch=2)


def test_stages_must_divide_the_layers():
    with pytest.raises(ValueError, match="divides 4"):
        pp.make_grad_fn(CFG, 3, 3, batch=3)
