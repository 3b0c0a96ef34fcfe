"""The JAX-free cost model of parallel training: it reproduces the fact
sheet's section 5 numbers, both as the book's closed forms and through the
general machinery (collectives timed by scalebook.comms), and its bad-input
errors name the fix."""
import math

import pytest

from scalebook import counting, hardware
from scalebook import parallelism as par

V5P = hardware.chip("v5p")


# ------------------------------------------------------- bytes per param
def test_bf16_adam_is_the_books_ten_bytes_plus_gradients():
    p = par.precision("bf16-adam")
    assert p.weight_bytes + p.optimizer_bytes == 10
    assert p.per_param == 12


def test_mixed_precision_with_fp32_master_is_sixteen_bytes():
    assert par.precision("mixed").per_param == 16
    assert counting.bytes_per_param("bf16", "adam", "fp32", "bf16",
                                    master_dtype="fp32") == 16


def test_switching_the_convention_changes_optimizer_memory():
    lay = par.layout("fsdp", 8)
    a = par.memory("llama3-8b", lay, 8, 4096, precision="bf16-adam")
    b = par.memory("llama3-8b", lay, 8, 4096, precision="mixed")
    assert b.optimizer / a.optimizer == pytest.approx(12 / 8)
    assert b.weights == a.weights


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="bf16-adam"):
        par.precision("fp64")


# ------------------------------------------- the book's closed forms (§5)
def test_v5p_fsdp_threshold_is_2550_tokens_per_chip_and_850_on_3_axes():
    assert par.dp_critical_tokens("v5p") == pytest.approx(2550)
    assert par.dp_critical_tokens("v5p", axes=3) == pytest.approx(850)


def test_tp_of_8_fits_f_30k_and_16_does_not():
    ways = par.tp_max_ways(30_000, "v5p")
    assert 8 < ways < 16
    assert par.tp_max_ways(20_400, "v5p") == pytest.approx(8)


def test_fsdp_tp_optimum_for_the_books_example_is_about_14():
    x = par.fsdp_tp_optimal_data(48 * 1024, 64, 32768)
    assert x == pytest.approx(13.86, abs=0.01)


def test_fsdp_tp_threshold_is_alpha_squared_over_2f():
    assert par.fsdp_tp_critical_tokens(32768, "v5p") == pytest.approx(
        99.2, abs=0.1)
    assert par.fsdp_tp_critical_tokens(28672, "v5p") == pytest.approx(
        113, abs=0.5)


def test_llama70b_at_16m_tokens_needs_18823_chips_with_3_axis_fsdp():
    chips = 16e6 / par.dp_critical_tokens("v5p", axes=3)
    assert chips == pytest.approx(18_823, abs=1)


def test_dcn_threshold_is_73440_tokens_per_slice():
    assert par.dcn_critical_tokens("v5p") == pytest.approx(73_440)


def test_bubble_fraction():
    assert par.bubble_fraction(4, 4) == pytest.approx(3 / 7)
    assert par.bubble_fraction(1, 5) == 0


# ------------------------ the general machinery reproduces the closed forms
BOOK = par.MLPStack(D=8192, F=32768)


@pytest.mark.parametrize("axes", [1, 2, 3])
def test_general_fsdp_threshold_equals_alpha_over_m(axes):
    lay = par.layout("fsdp", 64, spans={"data": axes})
    got = par.critical_tokens(BOOK, lay, "v5p", phase="forward")
    assert got == pytest.approx(2550 / axes)
    # over the whole step without remat, traffic and FLOPs both triple
    step = par.critical_tokens(BOOK, lay, "v5p", remat="none")
    assert step == pytest.approx(2550 / axes)


def test_block_remat_lowers_the_fsdp_threshold_by_its_extra_flops():
    lay = par.layout("fsdp", 64, spans={"data": 1})
    got = par.critical_tokens(BOOK, lay, "v5p", remat="block")
    assert got == pytest.approx(2550 * 6 / 8)


def test_general_tp_is_compute_bound_below_its_width_limit_at_any_batch():
    stack = par.MLPStack(D=8192, F=30_000 - 30_000 % 16)
    ok = par.critical_tokens(stack, par.layout("tp", 8), "v5p",
                             phase="forward")
    bad = par.critical_tokens(stack, par.layout("tp", 16), "v5p",
                              phase="forward")
    assert ok == 0 and bad == math.inf


def test_general_fsdp_tp_threshold_equals_closed_form_at_the_optimum():
    # F = 8 alpha makes the optimum exactly X = N alpha / F = N / 8.
    F = 20_400
    lay = par.layout("fsdp+tp", data=512, tensor=8,
                     spans={"data": 2, "tensor": 1})
    got = par.critical_tokens(par.MLPStack(D=8192, F=F), lay, "v5p",
                              phase="forward")
    assert got == pytest.approx(par.fsdp_tp_critical_tokens(F, "v5p"))
    batch = got * lay.devices
    assert par.fsdp_tp_optimal_data(batch, lay.devices, F) == \
        pytest.approx(512)


def test_h100_fsdp_threshold_across_nodes_is_near_2475():
    # The book: C / W_node = 2475 tokens per GPU with 400 GB/s per node;
    # scalebook.comms prices the fat tree's slowest level (about 413 GB/s
    # effective per node), a few per cent lower.
    lay = par.layout("fsdp", 4096)
    got = par.critical_tokens(BOOK, lay, "H100", phase="forward")
    c = hardware.chip("H100")
    assert got == pytest.approx(c.peak_flops("bf16") / (8 * c.dcn_bw),
                                rel=0.05)


def test_collective_times_come_from_comms():
    lay = par.layout("fsdp", 8, spans={"data": 1})
    sc = par.step_cost(BOOK, lay, 8, 1024, "v5p", remat="none")
    from scalebook import comms
    want = sum(c.count * comms.cost(c.kind, c.array_bytes, {"data.0": 8},
                                    "data.0", "v5p", wraparound=True).time
               for c in sc.comms)
    assert sc.by_axis["data"] == pytest.approx(want)
    kinds = sorted({c.kind for c in sc.comms if c.array_bytes > 4})
    assert kinds == ["all-gather", "reduce-scatter"]


# ----------------------------------------------------------------- memory
def test_zero_stages_shard_optimizer_then_grads_then_weights():
    base = dict(cfg="llama3-8b", batch=8, seq_len=2048)
    mems = {s: par.memory(base["cfg"], par.layout(s, 8), base["batch"],
                          base["seq_len"])
            for s in ("dp", "zero1", "zero2", "fsdp")}
    dp = mems["dp"]
    assert mems["zero1"].optimizer == pytest.approx(dp.optimizer / 8)
    assert mems["zero1"].grads == dp.grads
    assert mems["zero2"].grads == pytest.approx(dp.grads / 8)
    assert mems["zero2"].weights == dp.weights
    assert mems["fsdp"].weights == pytest.approx(dp.weights / 8)
    assert mems["fsdp"].gathered > 0 and dp.gathered == 0


def test_llama70b_training_state_is_140gb_weights_and_560gb_adam():
    m = par.memory("llama3-70b", par.Layout(), 1, 4096)
    assert m.weights == pytest.approx(140e9, rel=0.01)
    assert m.optimizer == pytest.approx(560e9, rel=0.01)


def test_saved_activations_of_llama70b_are_about_20_d_per_layer():
    n = par.activation_values_per_token("llama3-70b", "none")
    assert n / 8192 == pytest.approx(20.25)
    assert par.activation_values_per_token("llama3-70b", "block") == 8192


def test_1f1b_keeps_fewer_microbatches_than_gpipe():
    kw = dict(pipeline=4, microbatches=16, data=2)
    g = par.memory("llama3-8b", par.Layout(schedule="gpipe", **kw), 32, 512)
    f = par.memory("llama3-8b", par.Layout(schedule="1f1b", **kw), 32, 512)
    assert f.activations < g.activations


def test_remat_trades_memory_for_flops():
    lay = par.layout("fsdp", 8)
    none = par.step_cost("llama3-8b", lay, 8, 4096, "v5p", remat="none")
    block = par.step_cost("llama3-8b", lay, 8, 4096, "v5p", remat="block")
    assert block.memory.activations < none.memory.activations / 4
    assert block.flops_per_device == pytest.approx(
        none.flops_per_device * 8 / 6)


# ------------------------------------------------------------- bad input
def test_a_data_axis_that_does_not_divide_the_batch_names_the_fix():
    with pytest.raises(ValueError, match="multiple of 8"):
        par.memory("llama3-8b", par.layout("fsdp", 8), 12, 1024)


def test_a_tensor_axis_that_does_not_divide_the_heads_names_the_fix():
    with pytest.raises(ValueError, match="KV heads.*tensor axis that "
                       "divides 8"):
        par.memory("llama3-8b", par.layout("tp", 16), 16, 1024)


def test_a_strategy_the_axes_cannot_express_is_refused():
    with pytest.raises(ValueError, match="cannot use a tensor axis"):
        par.layout("fsdp", data=2, tensor=4)
    with pytest.raises(ValueError, match="needs two sizes"):
        par.layout("fsdp+tp", 8)


def test_a_batch_too_small_for_the_pipeline_names_the_fix():
    with pytest.raises(ValueError, match="too small for the pipeline.*at "
                       "least 4 microbatches"):
        par.memory("llama3-8b", par.Layout(pipeline=4, microbatches=2),
                   2, 1024)


def test_pipeline_stages_must_divide_the_layers():
    with pytest.raises(ValueError, match="divides 32"):
        par.memory("llama3-8b", par.Layout(pipeline=5, microbatches=5),
                   5, 1024)
