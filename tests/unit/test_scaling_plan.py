"""scalebook.scaling_plan: from a budget to a model shape, its FLOPs and
days on named clusters, and its error messages."""
import pytest

from scalebook import counting, hardware
from scalebook import scaling as s
from scalebook import scaling_plan as sp


@pytest.fixture(scope="module")
def full():
    return s.fit(s.load_chinchilla())


def test_training_days_reproduce_the_books_llama3_70b_examples():
    # Austin et al. 2025: 6.3e24 FLOPs on a full v5p pod at 40 % MFU is
    # 3.8e6 s (44 days); on 4096 H100 at 45 % it is 3.5e6 s (40 days).
    v5p = hardware.chip("v5p")
    assert sp.training_days(6.3e24, v5p, v5p.max_chips, 0.40) == \
        pytest.approx(44, rel=0.02)
    assert sp.training_days(6.3e24, "H100", 4096, 0.45) * sp.SECONDS_PER_DAY \
        == pytest.approx(3.5e6, rel=0.02)


def test_named_clusters():
    chip, n = sp.cluster("TPU v5p pod")
    assert chip.name == "TPU v5p" and n == hardware.chip("v5p").max_chips
    chip, n = sp.cluster("H100 cluster")
    assert chip.name == "H100" and n == 4096


@pytest.mark.parametrize("N", [3e8, 1e9, 1e10, 1e11, 1e12])
def test_shape_for_params_lands_near_the_target(N):
    cfg = sp.shape_for_params(N)
    assert counting.param_count(cfg) == pytest.approx(N, rel=0.06)
    assert cfg.D % cfg.H == 0 and cfg.N * cfg.H == cfg.D
    assert cfg.N % 8 == 0, "heads must split over a TP degree of 8"


def test_shape_for_params_heads_multiple_is_a_choice():
    cfg = sp.shape_for_params(1e11, heads_multiple=16)
    assert cfg.N % 16 == 0
    assert counting.param_count(cfg) == pytest.approx(1e11, rel=0.06)
    with pytest.raises(ValueError, match="tensor-parallel degree"):
        sp.shape_for_params(1e11, heads_multiple=0)


def test_plan_turns_a_budget_into_flops_and_days(full):
    p = sp.plan(1e24, full)
    assert p.extrapolated
    assert p.N == pytest.approx(full.compute_optimal(1e24, True)[0])
    assert p.flops_6nd == pytest.approx(1e24, rel=0.06)  # shape ~ N
    assert 1.0 < p.flops_exact / p.flops_6nd < 1.1      # attention at 2k
    chip, n = sp.cluster("TPU v5p pod")
    assert p.days["TPU v5p pod"] == pytest.approx(
        sp.training_days(p.flops_exact, chip, n, p.mfu))
    assert not sp.plan(1e21, full).extrapolated
    assert not sp.plan(1e26, s.BESIROGLU_2024).extrapolated  # a bare law


@pytest.mark.parametrize("call,match", [
    (lambda: sp.training_days(1e24, "v5p", 8960, 40), "percentage"),
    (lambda: sp.training_days(1e24, "v5p", 0, 0.4), "chips"),
    (lambda: sp.training_days(-1, "v5p", 8, 0.4), "positive"),
    (lambda: sp.cluster("DGX"), "known: TPU v5p pod"),
    (lambda: sp.shape_for_params(1e5), "vocab"),
    (lambda: sp.shape_for_params(-3), "positive"),
])
def test_bad_input_gets_a_message_that_names_the_fix(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
