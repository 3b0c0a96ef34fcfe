"""The GPU entries of the registry against fact sheet section 11, the
derived counts the chapter prints, and the errors for bad names and dtypes."""
import pytest

import scalebook as sb
from scalebook import cluster, hardware as hw

GPUS = ["A100", "H100", "H800", "H200", "B200", "GB200 NVL72"]


def test_registry_has_the_gpus_of_chapters_12_and_14():
    assert [c.name for c in hw.gpus()] == GPUS


def test_h800_is_an_h100_with_the_books_300_gb_s_of_nvlink():
    h800, h100 = hw.chip("H800"), hw.chip("H100")
    assert h800.gpu_egress_bw == pytest.approx(300e9)
    # the book's alpha for DeepSeek-V3's cluster: C / W_NVLink, about 3,300
    assert h800.peak_flops() / h800.gpu_egress_bw == pytest.approx(3300,
                                                                  rel=0.01)
    assert h800.dcn_bw == h100.dcn_bw == 50e9   # one 400 Gb/s NIC per GPU
    assert h800.flops == h100.flops and h800.hbm_bw == h100.hbm_bw
    # the compute side copies the H100 and says so
    assert hw.assumed(h800, "flops") and not hw.assumed(h800, "link_bw")


@pytest.mark.parametrize("name,sms,hbm,hbm_bw,bf16", [
    ("A100", 108, 80e9, 2.0e12, 3.1e14), ("H100", 132, 80e9, 3.35e12, 9.89e14),
    ("H200", 132, 141e9, 4.8e12, 9.9e14), ("B200", 148, 192e9, 8.0e12, 2.25e15)])
def test_spec_table_rows_match_the_fact_sheet(name, sms, hbm, hbm_bw, bf16):
    c = hw.chip(name)
    assert (c.sms, c.hbm_bytes, c.hbm_bw) == (sms, hbm, hbm_bw)
    assert c.peak_flops("bf16") == pytest.approx(bf16)


@pytest.mark.parametrize("name,nvlink,domain,switches", [
    ("A100", 300e9, 8, 6), ("H100", 450e9, 8, 4), ("H800", 300e9, 8, 4),
    ("H200", 450e9, 8, 4),
    ("B200", 900e9, 8, 2), ("GB200 NVL72", 900e9, 72, 18)])
def test_nvlink_bandwidth_domain_and_switches(name, nvlink, domain, switches):
    c = hw.chip(name)
    assert c.gpu_egress_bw == pytest.approx(nvlink)
    assert c.max_chips == domain and c.nvswitches == switches


def test_every_gpu_has_one_400_gbit_nic():
    for c in hw.gpus():
        assert c.bandwidth("dcn") * 8 == pytest.approx(400e9)  # bits/s


def test_nvl72_rack_egress_is_nine_h100_nodes():
    h100, nvl = hw.chip("H100"), hw.chip("GB200 NVL72")
    rack = nvl.max_chips * nvl.dcn_bw
    assert rack == pytest.approx(3.6e12)
    assert rack / (h100.max_chips * h100.dcn_bw) == pytest.approx(9)


def test_fp8_on_a100_is_a_clear_error_naming_chips_that_have_it():
    with pytest.raises(ValueError) as err:
        hw.chip("A100").peak_flops("fp8")
    msg = str(err.value)
    assert "A100 has no 'fp8'" in msg and "bf16, int8" in msg
    assert "H100" in msg and "B200" in msg


def test_fp8_doubles_the_critical_intensity_on_hopper_and_blackwell():
    for name, bf16 in (("H100", 295), ("B200", 281)):
        c = hw.chip(name)
        assert c.critical_intensity() == pytest.approx(bf16, abs=1)
        assert c.critical_intensity("fp8") == pytest.approx(2 * bf16, abs=2)
    assert hw.chip("H200").critical_intensity() == pytest.approx(206, abs=1)
    assert hw.chip("A100").critical_intensity() == pytest.approx(155, abs=1)


def test_unknown_gpu_names_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown chip 'H900'.*GB200 NVL72"):
        cluster.gpu("H900")
    with pytest.raises(ValueError, match="TPU v5p is not a GPU.*H100"):
        cluster.gpu("v5p")


def test_short_names_find_the_nvl72_rack():
    assert sb.chip("gb200").name == sb.chip("NVL72").name == "GB200 NVL72"


def test_sm_internals_give_the_fact_sheet_counts():
    h100, b200 = hw.chip("H100"), hw.chip("B200")
    lanes = hw.SM_SUBPARTITIONS * hw.FP32_LANES_PER_SUBPARTITION
    assert h100.sms * lanes == 16896 and b200.sms * lanes == 18944
    assert h100.sms * hw.SM_SUBPARTITIONS == 528  # Tensor Cores
    # CUDA-core FLOP/s (one op per lane per cycle): 26.9 T base, 33.5 T boost
    assert h100.sms * lanes * h100.base_clock_hz == pytest.approx(26.9e12,
                                                                  rel=0.01)
    assert h100.sms * lanes * h100.clock_hz == pytest.approx(33.5e12,
                                                             rel=0.01)
    # about 33 MiB each of shared memory and registers on an H100
    assert h100.sms * h100.smem_per_sm == 33 * 2**20
    assert h100.sms * hw.REGISTER_BYTES_PER_SM == 33 * 2**20


def test_tensor_core_rate_times_clock_gives_the_a100_peak():
    a100 = hw.chip("A100")
    peak = (a100.sms * hw.SM_SUBPARTITIONS * a100.tc_flops_per_cycle
            * a100.clock_hz)
    assert peak == pytest.approx(a100.peak_flops("bf16"), rel=0.01)


def test_switches_and_the_superpod_layout_have_sources():
    nvs, ib = hw.SWITCHES["NVSwitch (Hopper)"], hw.SWITCHES["InfiniBand NDR"]
    assert nvs.bandwidth == pytest.approx(1.6e12)
    assert ib.bandwidth == pytest.approx(3.2e12)
    pod = hw.SCALE_OUT["DGX SuperPod"]
    for record in (nvs, ib, pod):
        assert record.sources and all(record.sources.values())
    for m in hw.MEASURED.values():
        assert m.value > 0 and m.source
