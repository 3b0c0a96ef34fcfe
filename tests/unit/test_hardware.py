"""The hardware registry: lookups, derived quantities, sources, errors."""
import dataclasses

import pytest

from scalebook import hardware as hw

REQUIRED = ["TPU v4p", "TPU v5e", "TPU v5p", "TPU v6e", "TPU7x",
            "A100", "H100", "H200", "B200"]


def test_registry_has_every_chip_the_book_uses():
    for name in REQUIRED:
        assert hw.chip(name).name == name


@pytest.mark.parametrize("alias,name", [("v5e", "TPU v5e"), ("tpu-v5p", "TPU v5p"),
                                        ("h100", "H100"), ("TPU_v6e", "TPU v6e"),
                                        ("7x", "TPU7x")])
def test_lookup_accepts_short_and_loose_names(alias, name):
    assert hw.chip(alias).name == name


def test_unknown_chip_error_lists_known_names():
    with pytest.raises(ValueError) as err:
        hw.chip("TPU v9000")
    msg = str(err.value)
    assert "unknown chip 'TPU v9000'" in msg
    for name in REQUIRED:
        assert name in msg


def test_non_string_chip_name_is_a_type_error():
    with pytest.raises(TypeError, match="named by a string"):
        hw.chip(5)


def test_v5e_critical_intensity_is_240_flops_per_byte():
    # 1.97e14 FLOP/s over 8.2e11 B/s: the book's "B > 240" for bf16 matmuls.
    assert hw.chip("v5e").critical_intensity("bf16") == pytest.approx(240.2, abs=0.1)


def test_h100_and_b200_critical_intensities_match_the_book():
    assert hw.chip("H100").critical_intensity() == pytest.approx(295, abs=1)
    assert hw.chip("B200").critical_intensity() == pytest.approx(281, abs=1)
    assert hw.chip("H100").critical_intensity("fp8") == pytest.approx(591, abs=1)


def test_v5p_ici_alpha_is_2550():
    assert hw.chip("v5p").critical_intensity(over="ici") == pytest.approx(2550)


def test_v5p_dcn_intensity_is_73440():
    assert hw.chip("v5p").critical_intensity(over="dcn") == pytest.approx(73440)


def test_ici_axis_bandwidth_is_both_directions_of_one_link():
    v5e = hw.chip("v5e")
    assert v5e.ici_axis_bw == 2 * v5e.link_bw == 9e10


def test_gpu_axis_bandwidth_is_nvlink_egress():
    assert hw.chip("H100").ici_axis_bw == pytest.approx(450e9)
    assert hw.chip("B200").ici_axis_bw == pytest.approx(900e9)


def test_torus_link_counts_follow_dimension():
    assert hw.chip("v5e").links == 4 and hw.chip("v5p").links == 6


def test_max_slice_sizes():
    assert hw.chip("v5e").max_chips == 256
    assert hw.chip("v5p").max_chips == 8960


def test_missing_dtype_names_known_dtypes():
    with pytest.raises(ValueError, match="known dtypes for it: bf16, int8"):
        hw.chip("v5e").peak_flops("fp4")


def test_missing_bandwidth_is_a_clear_error():
    with pytest.raises(ValueError, match="no dcn bandwidth for TPU v4p"):
        hw.chip("v4p").bandwidth("dcn")
    with pytest.raises(ValueError, match="unknown path 'nvme'"):
        hw.chip("v4p").bandwidth("nvme")


def test_every_set_number_has_a_source():
    for c in hw.CHIPS.values():
        for f in dataclasses.fields(c):
            value = getattr(c, f.name)
            if f.name in ("name", "kind", "sources", "release") or value is None:
                continue
            assert f.name in c.sources, f"{c.name}.{f.name} has no source"


def test_tpu_and_gpu_lists_partition_the_registry():
    names = {c.name for c in hw.tpus()} | {c.name for c in hw.gpus()}
    assert names == set(hw.CHIPS)


def test_custom_chip_for_measured_machines():
    cpu = hw.custom_chip("laptop", 1e11, 2e10)
    assert cpu.critical_intensity("f32") == pytest.approx(5.0)
    with pytest.raises(ValueError, match="must be positive"):
        hw.custom_chip("broken", 0, 1e10)


def test_pod_cores_of_a_gpu_names_sms_instead():
    v5p, h100 = hw.chip("v5p"), hw.chip("H100")
    assert v5p.pod_cores == v5p.max_chips * v5p.cores
    with pytest.raises(ValueError, match="`sms`") as err:
        h100.pod_cores
    assert str(h100.max_chips * h100.sms) in str(err.value)
