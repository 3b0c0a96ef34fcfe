"""Collectives written from ppermute and all_to_all equal JAX's own, and
move the bytes the ring formulas say (Chapter 10)."""
import jax
import numpy as np
import pytest

from scalebook import collectives as co, compat, hlo

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

N = 8


@pytest.fixture(scope="module")
def mesh():
    return compat.make_mesh((N,), ("X",))


def _run(name, mesh, *args):
    c = hlo.compiled(co.program(name, mesh), *args)
    return np.asarray(c(*args)), hlo.collectives(c, mesh=mesh)


@pytest.fixture(scope="module")
def partials():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N * 16, 32)).astype(np.float32)


def test_ring_all_reduce_equals_psum_and_moves_its_bytes(mesh, partials):
    ring, ring_c = _run("ring_all_reduce", mesh, partials)
    psum, psum_c = _run("psum_all_reduce", mesh, partials)
    want = partials.reshape(N, 16, 32).sum(0)
    np.testing.assert_allclose(ring, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(psum, want, rtol=1e-5, atol=1e-5)
    assert [c.kind for c in ring_c] == ["collective-permute"] * 2 * (N - 1)
    assert [c.kind for c in psum_c] == ["all-reduce"]
    v = 16 * 32 * 4                  # one device's partial sums, bytes
    optimum = 2 * v * (N - 1) / N    # the all-reduce lower bound
    assert sum(c.bytes_per_device for c in ring_c) == optimum
    assert sum(c.bytes_per_device for c in psum_c) == optimum


def test_naive_all_reduce_moves_n_over_2_times_more(mesh, partials):
    out, colls = _run("naive_all_reduce", mesh, partials)
    np.testing.assert_allclose(out, partials.reshape(N, 16, 32).sum(0),
                               rtol=1e-5, atol=1e-5)
    v = 16 * 32 * 4
    assert sum(c.bytes_per_device for c in colls) == (N - 1) * v


def test_ring_reduce_scatter_and_all_gather(mesh, partials):
    rs, rs_c = _run("ring_reduce_scatter", mesh, partials)
    np.testing.assert_allclose(rs, partials.reshape(N, 16, 32).sum(0),
                               rtol=1e-5, atol=1e-5)
    assert sum(c.bytes_per_device for c in rs_c) == 16 * 32 * 4 * (N - 1) / N
    ag, ag_c = _run("ring_all_gather", mesh, partials)
    np.testing.assert_array_equal(ag, partials)
    assert sum(c.bytes_per_device for c in ag_c) == \
        partials.nbytes * (N - 1) / N


@pytest.mark.parametrize("name, moved", [
    ("bidi_allgather_matmul", "x"),        # hides the all-gather of x
    ("bidi_reducescatter_matmul", "y"),    # hides the reduce-scatter of y
])
def test_bidirectional_collective_matmuls(mesh, name, moved):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    w = rng.standard_normal((64, 128)).astype(np.float32)
    out, colls = _run(name, mesh, x, w)
    np.testing.assert_allclose(out, x @ w, rtol=1e-4, atol=1e-4)
    assert {c.kind for c in colls} == {"collective-permute"}
    # both directions: n//2 hops one way, the rest the other
    shifts = sorted({(t - s) % N for c in colls for s, t in c.source_pairs})
    assert shifts == [1, N - 1]
    assert len(colls) == N - 1
    v = (x if moved == "x" else x @ w).nbytes
    assert sum(c.bytes_per_device for c in colls) == v * (N - 1) / N


def test_moe_dispatch_equals_routing_each_token_on_one_device(mesh):
    rng = np.random.default_rng(2)
    tokens = rng.standard_normal((64, 16)).astype(np.float32)
    router = rng.standard_normal((16, N)).astype(np.float32)
    experts = rng.standard_normal((N, 16, 16)).astype(np.float32)
    out, colls = _run("moe_dispatch", mesh, tokens, router, experts)
    np.testing.assert_allclose(out, np.asarray(co.moe_reference(
        tokens, router, experts)), rtol=1e-4, atol=1e-4)
    assert [c.kind for c in colls] == ["all-to-all", "all-to-all"]
    # each all_to_all sends a device's n buffers of T/n slots, keeps one
    buf = N * (64 // N) * 16 * 4
    assert all(c.bytes_per_device == buf * (N - 1) / N for c in colls)


def test_moe_capacity_drops_overflowing_tokens(mesh):
    rng = np.random.default_rng(3)
    tokens = rng.standard_normal((64, 16)).astype(np.float32)
    router = np.zeros((16, N), np.float32)
    router[:, 0] = 1.0                       # every token wants expert 0
    tokens = np.abs(tokens)                  # so expert 0 wins for all
    experts = rng.standard_normal((N, 16, 16)).astype(np.float32)
    f = jax.jit(compat.shard_map(
        lambda x, r, e: co.moe_dispatch(x, r, e, "X", capacity=2), mesh,
        (jax.sharding.PartitionSpec("X"), jax.sharding.PartitionSpec(),
         jax.sharding.PartitionSpec("X")), jax.sharding.PartitionSpec("X")))
    out = np.asarray(f(tokens, router, experts))
    kept = np.abs(out).sum(1) > 0
    assert kept.reshape(N, -1).sum(1).tolist() == [2] * N


def test_unknown_program_lists_the_known_ones(mesh):
    with pytest.raises(ValueError, match="ring_all_reduce"):
        co.program("ring_allreduce", mesh)


def test_bidirectional_all_gather_sends_the_same_bytes_in_half_the_steps(
        mesh, partials):
    ag, ag_c = _run("bidi_all_gather", mesh, partials)
    np.testing.assert_array_equal(ag, partials)
    assert [c.kind for c in ag_c] == ["collective-permute"] * (N - 1)
    assert sum(c.bytes_per_device for c in ag_c) == \
        partials.nbytes * (N - 1) / N       # the all-gather's bytes
    shifts = [(c.source_pairs[0][1] - c.source_pairs[0][0]) % N
              for c in ag_c]
    assert shifts.count(1) == N // 2 and shifts.count(N - 1) == N - 1 - N // 2
    # an odd ring (an axis of 3 on 6 of the devices) delivers every block
    odd = jax.sharding.Mesh(np.array(jax.devices()[:6]).reshape(2, 3),
                            ("Z", "X"))
    x3 = partials[:48]
    c = hlo.compiled(co.program("bidi_all_gather", odd), x3)
    np.testing.assert_array_equal(np.asarray(c(x3)), x3)
    assert len(hlo.collectives(c, mesh=odd)) == 2     # 1 right, 1 left


def test_looped_all_reduce_needs_pcast_under_check_vma(mesh, partials):
    import functools
    P = jax.sharding.PartitionSpec
    want = partials.reshape(N, 16, 32).sum(0)

    def run(vary):
        f = jax.shard_map(functools.partial(co.looped_all_reduce, axis="X",
                                            vary=vary),
                          mesh=mesh, in_specs=P("X"), out_specs=P("X"))
        return np.asarray(jax.jit(f)(partials))
    got = run(True)
    np.testing.assert_allclose(got.reshape(N, 16, 32)[3], want, rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(TypeError, match="varying"):
        run(False)
