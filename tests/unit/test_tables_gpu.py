"""The GPU-next-to-TPU tables are read from the registry."""
import pytest

from scalebook import hardware as hw, tables


def test_compute_units_table_counts_sms_and_tensor_cores():
    t = tables.compute_units_table()
    rows = {v["chip"]: v for v in t.records()}
    assert rows["H100"]["cores"] == 132 and rows["H100"]["matrix units"] == 528
    assert rows["TPU v5p"]["cores"] == 2 and rows["TPU v5p"]["matrix units"] == 8
    assert rows["H100"]["scratchpad"] == 33 * 2**20
    assert rows["TPU v5e"]["scratchpad"] == hw.chip("v5e").vmem_bytes
    # VMEM 128 MiB and 256 KiB of VREGs per TensorCore (issue 22: the rows
    # were blank), beside an H100's 33 MiB of SMEM and 33 MiB of registers
    assert rows["TPU v5p"]["scratchpad"] == 128 * 2**20
    assert rows["TPU v5p"]["registers"] == 2 * 256 * 2**10
    assert rows["H100"]["registers"] == 132 * 256 * 2**10
    old = {v["chip"]: v for v in
           tables.compute_units_table(("TPU v4p",)).records()}
    assert old["TPU v4p"]["scratchpad"] is None  # not in the registry: "–"
    assert rows["H100"]["bf16 per unit"] == pytest.approx(9.89e14 / 528)


def test_network_table_puts_nvlink_next_to_ici_and_ib_next_to_dcn():
    t = tables.network_table()
    rows = {v["chip"]: v for v in t.records()}
    assert rows["H100"]["scale-up egress"] == pytest.approx(450e9)
    assert rows["TPU v5p"]["scale-up egress"] == pytest.approx(540e9)
    assert rows["GB200 NVL72"]["scale-up domain"] == 72
    assert rows["TPU v5p"]["scale-up domain"] == 8960
    assert rows["H100"]["scale-out egress"] == pytest.approx(50e9)
    assert rows["H100"]["scale-up / scale-out"] == pytest.approx(9)
    assert "NVLink" in str(t) and "DCN" in str(t)


def test_gpu_spec_table_leaves_fp8_blank_on_the_a100():
    t = tables.gpu_spec_table()
    rows = {v["chip"]: v for v in t.records()}
    assert rows["A100"]["fp8"] is None and rows["H100"]["fp8"] == 1.979e15
    assert rows["GB200 NVL72"]["NVLink domain"] == 72
    assert "–" in str(t)
