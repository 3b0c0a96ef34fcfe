"""Spec tables list every TPU in the registry, with the registry's numbers."""
import pytest

from scalebook import hardware, tables


def test_spec_table_has_one_row_per_tpu_in_the_registry():
    t = tables.spec_table()
    assert t.column("chip") == [c.name for c in hardware.tpus()]
    html = t._repr_html_()
    text = str(t)
    for c in hardware.tpus():
        assert c.name in html and c.name in text


def test_spec_table_numbers_are_the_registry_numbers():
    t = tables.spec_table()
    for c, v in zip(hardware.tpus(), t.records()):
        assert v["bf16"] == c.peak_flops("bf16")
        assert v["int8"] == c.peak_flops("int8")
        assert v["HBM"] == c.hbm_bytes
        assert v["HBM BW"] == c.hbm_bw
        assert v["ICI link"] == c.link_bw
        assert v["ICI axis"] == 2 * c.link_bw
        assert v["PCIe"] == c.pcie_bw
        assert v["DCN"] == c.dcn_bw


def test_missing_paths_show_a_dash_not_an_error():
    t = tables.spec_table(["v3"])
    row = dict(zip(t.header, t.text_rows()[0]))
    assert row["PCIe"] == "–" and row["DCN"] == "–"


def test_derived_table_critical_intensities_and_pod_totals():
    t = tables.derived_table()
    for c, v in zip(hardware.tpus(), t.records()):
        assert v["crit. HBM"] == pytest.approx(
            c.peak_flops("bf16") / c.hbm_bw)
        assert v["crit. ICI"] == pytest.approx(
            c.peak_flops("bf16") / (2 * c.link_bw))
        assert v["pod chips"] == c.max_chips
        assert v["pod bf16"] == pytest.approx(
            c.max_chips * c.peak_flops("bf16"))
        assert v["pod HBM"] == pytest.approx(c.max_chips * c.hbm_bytes)


def test_pod_totals_for_v5e_and_v5p_match_the_books_worked_numbers():
    # Published figures: v5e pod 32 hosts, 256 cores, ~5.1e16 FLOP/s, ~4 TB;
    # v5p pod 2240 hosts, 17,920 cores, ~4.1e18 FLOP/s, ~860 TB.
    v5e, v5p = hardware.chip("v5e"), hardware.chip("v5p")
    assert (v5e.pod_hosts, v5e.pod_cores) == (32, 256)
    assert v5e.pod_flops() == pytest.approx(5.1e16, rel=0.02)
    assert v5e.pod_hbm_bytes == pytest.approx(4e12, rel=0.03)
    assert (v5p.pod_hosts, v5p.pod_cores) == (2240, 17920)
    assert v5p.pod_flops() == pytest.approx(4.1e18, rel=0.01)
    assert v5p.pod_hbm_bytes == pytest.approx(860e12, rel=0.01)


def test_bandwidth_hierarchy_is_ordered_hbm_ici_pcie_dcn():
    for c in hardware.tpus():
        bws = c.bandwidths()
        assert list(bws.values()) == sorted(bws.values(), reverse=True)
        assert list(bws)[0] == "hbm"
        assert tables.bandwidth_ratios(c)["hbm"] == 1.0


def test_unknown_column_and_chip_errors_name_the_options():
    with pytest.raises(KeyError, match="columns"):
        tables.spec_table().column("nope")
    with pytest.raises(ValueError, match="known"):
        tables.spec_table(["v99"])
