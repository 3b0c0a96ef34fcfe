"""Claims of Chapter 1 that `scalebook.roofline` computes from the registry."""
import math

import pytest

import scalebook.hardware as hw
import scalebook.roofline as rl


def test_dtype_table_has_the_usual_sizes():
    assert rl.dtype_bytes("bf16") == 2
    assert rl.dtype_bytes("float32") == 4
    assert rl.dtype_bytes("int8") == 1
    assert rl.dtype_bytes("int4") == 0.5


def test_dtype_accepts_jax_dtype_objects():
    import jax.numpy as jnp

    assert rl.canonical_dtype(jnp.bfloat16) == "bf16"
    assert rl.canonical_dtype(jnp.float32) == "f32"


def test_unknown_dtype_error_lists_known_names():
    with pytest.raises(ValueError, match="unknown dtype 'bf15'.*bf16"):
        rl.dtype_bytes("bf15")
    with pytest.raises(TypeError, match="string such as 'bf16'"):
        rl.dtype_bytes(object())


def test_unknown_chip_error_names_known_chips():
    with pytest.raises(ValueError, match="unknown chip 'v9z'.*TPU v5e"):
        rl.matmul_time(8, 8, 8, "v9z")


def test_chip_without_dtype_says_which_dtypes_it_has():
    with pytest.raises(ValueError, match="no 'fp8' throughput"):
        rl.matmul_time(8, 8, 8, "v5e", dtype="fp8")


def test_matmul_flops_and_bytes_closed_forms():
    b, d, f = 3, 5, 7
    assert rl.matmul_flops(b, d, f) == 2 * 3 * 5 * 7
    assert rl.matmul_bytes(b, d, f) == 2 * (b * d + d * f + b * f)
    assert rl.matmul_bytes(b, d, f, "bf16", "int8") == 2 * b * d + d * f + 2 * b * f
    assert rl.matmul_bytes(b, d, f, "f32") == 4 * (b * d + d * f + b * f)


def test_bad_dims_are_rejected_with_the_name():
    with pytest.raises(ValueError, match="d must be a positive"):
        rl.matmul_flops(4, 0, 4)
    with pytest.raises(ValueError, match="bytes moved must be positive"):
        rl.intensity(10, 0)


def test_bf16_matmul_intensity_approaches_batch_for_small_batch():
    ai = rl.matmul_intensity(16, 16384, 16384)
    assert ai == pytest.approx(16, rel=0.002)
    assert ai < 16


def test_v5e_critical_batch_is_240_within_1_percent():
    assert rl.critical_batch("v5e") == pytest.approx(240, rel=0.01)


def test_h100_critical_batch_is_about_295():
    assert rl.critical_batch("H100") == pytest.approx(295, rel=0.01)


def test_int8_weights_and_int8_compute_keep_v5e_critical_batch():
    assert rl.critical_batch("v5e", "int8") == pytest.approx(
        rl.critical_batch("v5e", "bf16"), rel=1e-12)


def test_int8_weights_with_bf16_compute_halve_critical_batch():
    c = rl.critical_batch("v5e", "bf16", weight_dtype="int8")
    assert c == pytest.approx(120, rel=0.01)
    assert c == pytest.approx(rl.critical_batch("v5e") / 2, rel=1e-12)


def test_critical_batch_equals_hardware_ratio_for_bf16():
    chip = hw.chip("v5p")
    assert rl.critical_batch(chip) == pytest.approx(
        chip.critical_intensity("bf16"), rel=1e-12)
    assert rl.critical_intensity("v5p") == chip.critical_intensity("bf16")


def test_exact_critical_batch_is_where_the_bounds_cross():
    for d in (1024, 4096):
        b = rl.critical_batch("v5e", "bf16", "int8", d=d, f=d)
        t = rl.matmul_time(b, d, d, "v5e", "bf16", weight_dtype="int8")
        assert t.t_compute == pytest.approx(t.t_memory, rel=1e-9)
        assert b > rl.critical_batch("v5e", "bf16", "int8")


def test_smaller_layer_needs_a_larger_batch():
    small = rl.critical_batch("v5e", "bf16", "int8", d=1024, f=1024)
    large = rl.critical_batch("v5e", "bf16", "int8", d=4096, f=4096)
    assert 1.4 < small / large < 2.0


def test_critical_batch_needs_both_dims():
    with pytest.raises(ValueError, match="both d and f"):
        rl.critical_batch("v5e", d=1024)


def test_critical_batch_is_infinite_when_never_compute_bound():
    assert math.isinf(rl.critical_batch("v5e", "bf16", d=64, f=64))


def test_matmul_time_switches_bound_at_critical_batch():
    d = f = 16384
    assert rl.matmul_time(128, d, f, "v5e").bound == "memory"
    assert rl.matmul_time(512, d, f, "v5e").bound == "compute"


def test_bounds_lower_is_max_upper_is_sum_at_most_2x_apart():
    t = rl.matmul_time(300, 8192, 8192, "v5e")
    assert t.lower == max(t.t_compute, t.t_memory)
    assert t.upper == t.t_compute + t.t_memory
    assert t.lower <= t.upper <= 2 * t.lower
    assert "bound" in str(t)


def test_overlap_bounds_and_errors():
    assert rl.overlap_bounds(3e-3, 2e-3) == (3e-3, 5e-3)
    with pytest.raises(ValueError):
        rl.overlap_bounds()
    with pytest.raises(ValueError, match=">= 0"):
        rl.overlap_bounds(1.0, -1.0)


def test_dot_product_intensity_tends_to_half_in_bf16():
    assert rl.dot_product_intensity(1) == pytest.approx(1 / 6)
    assert rl.dot_product_intensity(10**6) == pytest.approx(0.5, rel=1e-5)
    assert rl.dot_product_intensity(10**6, "f32") == pytest.approx(0.25, rel=1e-5)


def test_batched_matvec_intensity_is_about_2_in_int8_at_any_batch():
    for b in (1, 64, 4096):
        assert rl.batched_matvec_intensity(b, 4096, 4096) == pytest.approx(
            2, rel=0.001)


def test_elementwise_op_is_memory_bound_on_every_chip():
    for name in hw.CHIPS:
        assert rl.elementwise_time(10**8, name).bound == "memory"


def test_network_roofline_threshold_on_v5e_is_8755():
    d = rl.split_matmul_critical_d("v5e")
    assert d == pytest.approx(8755, abs=1)
    b, f = 512, 4096
    assert rl.split_matmul_time(b, 8192, f, "v5e").bound == "comms"
    assert rl.split_matmul_time(b, 9216, f, "v5e").bound == "compute"
    text = str(rl.split_matmul_time(b, 8192, f, "v5e"))
    assert "comms" in text and "memory" not in text


def test_network_threshold_does_not_depend_on_batch():
    for b in (1, 64, 8192):
        t = rl.split_matmul_time(b, round(rl.split_matmul_critical_d("v5e")),
                                 2048, "v5e")
        assert t.t_compute == pytest.approx(t.t_comms, rel=1e-3)


def test_measured_chip_has_no_link_for_the_network_roofline():
    cpu = hw.custom_chip("cpu", 1e11, 2e10)
    with pytest.raises(ValueError, match="no chip-to-chip link"):
        rl.split_matmul_critical_d(cpu, "f32")


def test_attainable_flops_is_min_of_roof_and_slope():
    v5e = hw.chip("v5e")
    assert rl.attainable_flops(1.0, v5e) == v5e.hbm_bw
    assert rl.attainable_flops(1e6, v5e) == v5e.peak_flops("bf16")


def test_roofline_time_adds_comms_over_the_named_path():
    t = rl.roofline_time(1e12, 1e9, "v5p", comm_bytes=1.8e9)
    assert t.t_comms == pytest.approx(1.8e9 / hw.chip("v5p").ici_axis_bw)
    assert t.bound == "comms"


def test_explorer_point_matches_matmul_time():
    from scalebook.explore import roofline as ex

    p = ex.matmul_point(64, 8192, 8192, "v5e")
    t = rl.matmul_time(64, 8192, 8192, "v5e")
    assert p["bounds"] == t
    assert p["intensity"] == rl.matmul_intensity(64, 8192, 8192)
    q = ex.matmul_point(64, 8192, 8192, "v5e", "int8 weights, bf16 compute")
    assert q["critical_batch"] < p["critical_batch"]
    assert "memory-bound" in ex.describe(64, 8192, 8192, "v5e")
    with pytest.raises(ValueError, match="unknown precision"):
        ex.matmul_point(1, 2, 3, "v5e", "fp64")


def test_static_figure_has_one_panel_per_chip_and_explorer_builds():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scalebook.explore import roofline as ex

    fig = ex.static_figure(["TPU v5e", "H100"], batches=(8, 2048))
    assert len(fig.axes) == 2
    plt.close(fig)
    ui = ex.explorer("H100", b=512)
    assert type(ui).__name__ == "VBox"
    plt.close("all")
