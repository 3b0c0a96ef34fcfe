"""TensorCore rates derived from unit counts and the clock (Chapter 2)."""
import pytest

from scalebook import hardware as hw
from scalebook import tensorcore as tc


def test_one_mxu_pass_is_8_rows_of_a_128_array_in_8_cycles():
    p = tc.mxu_pass("v5e")
    # bf16[8,128] @ bf16[128,128]: 8*128*128 multiply-adds = 262,144 FLOPs
    assert (p.rows, p.size, p.cycles) == (8, 128, 8)
    assert p.flops == 262_144
    assert tc.mxu_flops_per_cycle("v5e") == 32_768
    assert tc.mxu_flops_per_cycle("v6e") == 4 * 32_768  # a 256x256 array


def test_v5e_mxu_rate_at_its_sourced_clock_is_about_5e13():
    assert tc.clock("v5e").sourced
    assert tc.mxu_rate("v5e") == pytest.approx(4.9152e13)


@pytest.mark.parametrize("name", ["v5e", "v5p"])
def test_peak_from_units_at_the_sourced_clock_matches_the_registry(name):
    # An independent check: counts x clock, not the peak read back.
    assert tc.clock(name).sourced
    assert tc.peak_from_units(name) == pytest.approx(
        hw.chip(name).peak_flops("bf16"), rel=0.005)


def test_v5p_vpu_peak_from_its_shape_is_the_books_7e12():
    # 8 sublanes x 128 lanes x 4 ALUs x 1.75 GHz
    assert tc.vpu_peak("v5p") == pytest.approx(8 * 128 * 4 * 1.75e9)
    assert tc.vpu_peak("v5p") == pytest.approx(
        hw.VPU_FLOPS_PER_CORE["TPU v5p"], rel=0.03)


@pytest.mark.parametrize("name", ["v3", "v4p", "v6e", "7x"])
def test_an_implied_clock_restates_the_peak(name):
    ck = tc.clock(name)
    assert not ck.sourced
    assert tc.peak_from_units(name) == pytest.approx(
        hw.chip(name).peak_flops("bf16"))


def test_clocks_resting_on_the_default_mxu_count_are_flagged():
    flagged = {c.name for c in hw.tpus() if tc.clock(c).assumed}
    assert flagged == {"TPU v6e", "TPU7x"}
    assert hw.assumed("v6e", "mxus_per_core")
    assert not hw.assumed("v5e", "mxus_per_core")
    rows = {r["chip"]: r["clock from"] for r in tc.table().records()}
    assert rows["TPU v6e"].startswith("ASSUMED")
    assert rows["TPU7x"].startswith("ASSUMED")
    assert rows["TPU v5e"] == "source"
    assert not rows["TPU v4p"].startswith("ASSUMED")
    from scalebook import tables
    spec = {r["chip"]: r["MXUs/core"] for r in tables.spec_table().records()}
    assert spec["TPU v6e"].startswith("4*") and spec["TPU v5e"][1] != "*"


def test_vpu_peak_without_a_shape_or_a_gpu_says_what_is_missing():
    with pytest.raises(ValueError, match="no VPU shape for TPU v5e"):
        tc.vpu_peak("v5e")
    with pytest.raises(ValueError, match="no TensorCore"):
        tc.clock("H100")
