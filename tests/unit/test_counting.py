"""The formulas of scalebook.counting against published sizes and the
book's worked numbers (no JAX compile here; see test_counting_vs_xla)."""
import pytest

from scalebook import counting as c
from scalebook.model import Config, preset

# Published parameter counts (model cards / Hugging Face configs).
PUBLISHED = {"llama3-8b": 8.03e9, "llama3-70b": 70.6e9,
             "llama3-405b": 405.9e9}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_llama3_param_count_within_1pct_of_published(name):
    got = c.param_count(name)
    assert abs(got / PUBLISHED[name] - 1) < 0.01, (name, got)


def test_llama3_70b_breakdown_matches_the_books_terms():
    g = c.param_groups("llama3-70b")
    assert g["mlp"] == pytest.approx(56.3e9, rel=0.002)      # 3DFL
    assert g["attention"] == pytest.approx(12e9, rel=0.01)   # L(2DNH+2DKH)
    assert g["vocab"] == pytest.approx(2.1e9, rel=0.01)      # 2VD, untied
    # The book's 70.4e9 is the sum of its rounded terms; ours is exact.
    assert sum(g.values()) - 70.4e9 < 0.2e9


def test_tied_embeddings_drop_the_unembedding():
    untied = Config(D=64, F=256, L=2, N=4, K=4, H=16, V=256)
    tied = Config(D=64, F=256, L=2, N=4, K=4, H=16, V=256,
                  tied_embeddings=True)
    assert c.param_count(untied) - c.param_count(tied) == 64 * 256
    assert c.param_counts(tied)["unembed"] == 0


@pytest.mark.parametrize("name,kib", [("llama3-8b", 64), ("llama3-70b", 160),
                                      ("llama3-405b", 252)])
def test_llama3_kv_cache_per_token_int8(name, kib):
    assert c.kv_cache_bytes_per_token(name, "int8") == kib * 1024
    assert c.kv_cache_bytes_per_token(name, "bf16") == 2 * kib * 1024


def test_kv_cache_example_8k_context_is_8_gib_in_int8():
    cfg = Config(D=8192, F=32768, L=64, N=64, K=64, H=128, V=32000)
    assert c.kv_cache_bytes(cfg, S=8192, dtype="int8") == 8 * 2**30


def test_mlp_training_flops_are_18_btdf():
    cfg = preset("llama3-8b")
    B, T = 2, 512
    f = c.train_flops(cfg, B, T)
    mlp = (f["gate"] + f["up"] + f["down"]) / cfg.L
    assert mlp == 18 * B * T * cfg.D * cfg.F


def test_training_is_three_forward_passes():
    cfg = preset("tiny-gqa")
    assert c.train_flops_total(cfg) == 3 * c.forward_flops_total(cfg)


def test_attention_core_is_4_btsnh_forward():
    cfg = preset("tiny-gqa")
    f = c.layer_forward_flops(cfg, B=3, T=16, S=40)
    assert f["scores"] + f["av"] == 4 * 3 * 16 * 40 * cfg.N * cfg.H


def test_gqa_shrinks_only_the_kv_projections():
    mha = Config(D=64, F=256, L=2, N=8, K=8, H=8, V=256)
    gqa = Config(D=64, F=256, L=2, N=8, K=2, H=8, V=256)
    a, b = c.layer_forward_flops(mha, 1, 32), c.layer_forward_flops(gqa, 1, 32)
    assert a["k"] == 4 * b["k"] and a["v"] == 4 * b["v"]
    for m in ("q", "o", "scores", "av", "gate", "up", "down"):
        assert a[m] == b[m]


def test_crossover_is_8d_for_the_standard_shape():
    cfg = Config(D=1024, F=4096, L=1, N=8, K=8, H=128, V=1000)
    assert c.attention_crossover(cfg) == 8 * cfg.D
    assert c.attention_crossover(cfg, "projections") == 2 * cfg.D
    assert c.attention_crossover(cfg, "mlp") == 6 * cfg.D
    assert c.attention_share(cfg, T=8 * cfg.D) == pytest.approx(0.5)


def test_crossover_rejects_unknown_reference():
    with pytest.raises(ValueError, match="choose matmuls"):
        c.attention_crossover("tiny", against="norms")


def test_attention_is_a_quarter_of_layer_params_for_mha_f_4d():
    cfg = Config(D=1024, F=4096, L=4, N=8, K=8, H=128, V=1000)
    g = c.param_groups(cfg)
    assert g["attention"] / (g["attention"] + g["mlp"]) == pytest.approx(0.25)


def test_six_p_t_overcounts_embeddings_and_misses_attention():
    cfg = preset("llama3-8b")
    # Short context: the rule overcounts (it charges the embedding lookup).
    assert c.six_p_t_error(cfg, 1, 128) > 0
    # Without the embedding it undercounts: attention's T^2 term is missing.
    assert c.six_p_t_error(cfg, 1, 8192, include_embedding=False) < 0
    # Long context makes the miss larger.
    assert (c.six_p_t_error(cfg, 1, 32768, False)
            < c.six_p_t_error(cfg, 1, 4096, False))


def test_adam_in_bf16_is_10_bytes_per_param():
    assert c.bytes_per_param("bf16", "adam", "fp32") == 10
    assert c.bytes_per_param("bf16", "adam", "fp32", grad_dtype="bf16") == 12
    assert c.bytes_per_param("fp32", "sgd") == 4


def test_llama3_70b_weights_and_optimizer_bytes():
    m = c.training_memory("llama3-70b", tokens=4_000_000)
    assert m["weights"] == pytest.approx(140e9, rel=0.01)
    assert m["optimizer"] == pytest.approx(560e9, rel=0.01)


def test_remat_example_84_tb_vs_4_2_tb():
    cfg = Config(D=8192, F=32768, L=64, N=64, K=64, H=128, V=32000)
    full = c.activation_bytes(cfg, tokens=4e6, remat="none")
    block = c.activation_bytes(cfg, tokens=4e6, remat="block")
    assert full == pytest.approx(84e12, rel=0.01)
    assert block == pytest.approx(4.2e12, rel=0.01)
    assert c.remat_flops_factor("block") / c.remat_flops_factor("none") \
        == pytest.approx(8 / 6)


def test_moe_critical_batch_deepseek_v3():
    assert c.moe_critical_batch(256, 8, "v5e") == pytest.approx(3840, rel=0.01)


def test_attention_intensity_prefill_and_decode():
    assert c.attention_intensity(T=4096, S=4096) == 2048  # T/2
    assert c.attention_intensity(T=1, S=8192, G=8) == pytest.approx(8, 0.01)


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="known:"):
        c.kv_cache_bytes_per_token("tiny", dtype="fp12")
    with pytest.raises(ValueError, match="choose one of"):
        c.activation_bytes("tiny", 10, remat="sometimes")
    with pytest.raises(TypeError, match="Config or a preset"):
        c.param_count(object())
    with pytest.raises(ValueError, match="unknown model preset"):
        c.param_count("llama9")


def test_calculator_summary_reports_the_counted_numbers():
    from scalebook import units
    from scalebook.explore import transformer as ex

    s = ex.summary("llama3-70b", B=1, T=8192)
    assert s["parameters"] == units.si(c.param_count("llama3-70b"))
    assert s["KV cache / token (bf16)"] == "320 KiB"
    table = ex.summary_table()
    assert "llama3-405b" in str(table).splitlines()[1]
    assert table.column("llama3-70b")[0] == s["parameters"]


def test_calculator_widget_and_figures_build():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scalebook.explore import transformer as ex

    box = ex.calculator("tiny")
    assert "parameters" in box.children[-1].value
    for fig in (ex.layer_diagram("tiny"), ex.flops_split_figure("tiny"),
                ex.memory_budget_figure(), ex.calculator_static()):
        assert fig.axes
        plt.close(fig)


def test_calculator_explains_an_impossible_config():
    from scalebook.explore import transformer as ex

    box = ex.calculator("tiny")
    grid, out = box.children[1], box.children[-1]
    grid.children[4].value = 3          # K = 3 does not divide N = 4
    assert "K must divide N" in out.value


def test_bytes_per_param_conventions_are_10_12_16_16():
    got = [c.bytes_per_param(**kw)
           for kw in c.BYTES_PER_PARAM_CONVENTIONS.values()]
    # 2 + 4 + 4; + 2 (bf16 grads); + 4 (fp32 master copy); 4 + 4 + 4 + 4
    assert got == [10, 12, 16, 16]
    assert c.bytes_per_param("bf16", master_dtype="fp32") == 14


def test_training_memory_counts_the_books_convention_of_12_bytes():
    mem = c.training_memory("llama3-8b", tokens=1, remat="block")
    per_param = (mem["weights"] + mem["grads"] + mem["optimizer"]) \
        / c.param_count("llama3-8b")
    kw = c.BYTES_PER_PARAM_CONVENTIONS["bf16 weights and gradients + fp32 Adam"]
    assert per_param == pytest.approx(c.bytes_per_param(**kw))


def test_matmul_outputs_times_contraction_give_the_flops():
    cfg = preset("tiny-gqa")
    out = c.matmul_output_elements(cfg, 3, 16, S=24)
    flops = c.layer_forward_flops(cfg, 3, 16, S=24)
    contracted = {"q": cfg.D, "k": cfg.D, "v": cfg.D, "o": cfg.N * cfg.H,
                  "scores": cfg.H, "av": 24, "gate": cfg.D, "up": cfg.D,
                  "down": cfg.F}
    assert list(out) == list(c.MATMULS)
    for k in c.MATMULS:
        assert flops[k] == 2 * out[k] * contracted[k], k
