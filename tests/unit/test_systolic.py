"""The weight-stationary systolic model multiplies correctly, in the
number of cycles the fill + stream + drain formula says."""
import numpy as np
import pytest

from scalebook import systolic


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 3, 3), (5, 2, 4),
                                   (2, 6, 3), (8, 4, 1), (16, 8, 8)])
def test_result_equals_numpy_matmul_for_many_shapes(m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    A, B = rng.normal(size=(m, k)), rng.normal(size=(k, n))
    run = systolic.simulate(A, B)
    np.testing.assert_allclose(run.result, A @ B, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m,k,n", [(4, 3, 3), (10, 4, 6), (1, 5, 2)])
def test_cycle_count_is_stream_plus_fill_and_drain(m, k, n):
    run = systolic.simulate(np.ones((m, k)), np.ones((k, n)))
    assert run.cycles == systolic.cycles(m, k, n) == m + (k - 1) + (n - 1)
    assert len(run.snapshots) == run.cycles


def test_last_result_leaves_on_the_last_cycle_and_each_exactly_once():
    run = systolic.simulate(np.ones((4, 3)), np.ones((3, 5)))
    outs = [o for s in run.snapshots for o in s.out]
    assert sorted(outs) == [(m, n) for m in range(4) for n in range(5)]
    assert run.snapshots[-1].out == ((3, 4),)


def test_a_smaller_matrix_on_a_bigger_array_still_multiplies():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(6, 3)), rng.normal(size=(3, 2))
    run = systolic.simulate(A, B, array=(8, 8))
    np.testing.assert_allclose(run.result, A @ B)
    assert run.array_shape == (8, 8)
    assert run.utilization < systolic.utilization(6, 3, 2)


def test_pe_holds_the_activation_of_row_t_minus_k_minus_n():
    run = systolic.simulate(np.ones((5, 3)), np.ones((3, 3)))
    snap = run.snapshots[3]
    for k in range(3):
        for n in range(3):
            m = 3 - k - n
            assert snap.act_row[k, n] == (m if 0 <= m < 5 else -1)


def test_partial_sums_accumulate_down_a_column():
    A = np.arange(1.0, 7.0).reshape(2, 3)
    B = np.eye(3)
    run = systolic.simulate(A, B)
    # Cycle 2: row 0's activation in PE (2, 0) carries A[0,0]+A[0,1]+A[0,2]
    # times the identity column 0 = A[0,0].
    assert run.snapshots[2].psum[2, 0] == A[0, 0]
    assert run.snapshots[1].psum[1, 0] == A[0, 0]


def test_weights_larger_than_the_array_raise_and_name_simulate_tiled():
    with pytest.raises(ValueError, match="simulate_tiled"):
        systolic.simulate(np.ones((2, 5)), np.ones((5, 3)), array=(4, 4))


@pytest.mark.parametrize("k,n,array", [(10, 7, (4, 3)), (8, 8, (4, 4)),
                                       (5, 9, (8, 2))])
def test_tiling_covers_weights_bigger_than_the_array(k, n, array):
    rng = np.random.default_rng(k + n)
    A, B = rng.normal(size=(9, k)), rng.normal(size=(k, n))
    run = systolic.simulate_tiled(A, B, array=array)
    np.testing.assert_allclose(run.result, A @ B, rtol=1e-10, atol=1e-10)
    tiles = -(-k // array[0]) * -(-n // array[1])
    assert run.cycles <= tiles * systolic.cycles(9, *array)
    assert run.cycles >= tiles * 9


def test_mismatched_inner_dimensions_say_which():
    with pytest.raises(ValueError, match="inner dimensions"):
        systolic.simulate(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="two matrices"):
        systolic.simulate(np.ones(3), np.ones((3, 2)))


def test_utilization_approaches_one_for_long_streams():
    assert systolic.utilization(128, 128, 128) < 0.4
    assert systolic.utilization(100_000, 128, 128) > 0.99
    run = systolic.simulate(np.ones((20, 4)), np.ones((4, 4)))
    assert run.utilization == pytest.approx(systolic.utilization(20, 4, 4))


def test_snapshots_draw_and_animate_without_error():
    import matplotlib
    matplotlib.use("Agg")
    run = systolic.simulate(np.ones((3, 2)), np.ones((2, 2)))
    fig = systolic.draw_snapshots(run, [0, 2])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="outside"):
        systolic.draw_snapshots(run, [99])
    anim = systolic.animate(run)
    assert "<script" in anim.to_jshtml()
    quiet = systolic.simulate(np.ones((3, 2)), np.ones((2, 2)), record=False)
    with pytest.raises(ValueError, match="record=True"):
        systolic.draw_snapshots(quiet)


def test_weight_tiles_pad_each_dim_to_whole_tiles():
    from scalebook.systolic import weight_tiles
    assert weight_tiles(128, 128) == 1
    assert weight_tiles(129, 128) == 2
    assert weight_tiles(257, 257) == 9
    assert weight_tiles(300, 150, array=256) == 2
    with pytest.raises(ValueError, match="positive int"):
        weight_tiles(0, 128)
