"""GPU figures and the measurement reader: drawn from the registry, the
synthetic fixture read and plotted, and the guard that keeps fixtures and
CPU runs out of data/gpu_measurements."""
import json
import pathlib
import shutil

import matplotlib
import pytest

matplotlib.use("Agg")

from scalebook.explore import gpus  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / \
    "gpu_measurement.SYNTHETIC_TEST_FIXTURE.json"
DATA = ROOT / "data" / "gpu_measurements"


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + \
        " ".join(ax.get_title() for ax in fig.axes) + \
        (fig._suptitle.get_text() if fig._suptitle else "")


def test_fixture_is_labelled_synthetic_and_reads():
    m = gpus.load_measurement(FIXTURE)
    assert m["synthetic_test_fixture"] is True
    assert "SYNTHETIC TEST FIXTURE" in gpus.measurement_summary(m)
    assert gpus.match_chip(m["device"]["name"]).name == "H100"


def test_plot_puts_each_measurement_beside_its_model():
    fig = gpus.plot_measurement(gpus.load_measurement(FIXTURE))
    mm, hbm, coll = fig.axes
    labels = [ln.get_label() for ln in mm.get_lines()]
    assert labels == ["measured bf16", "model bf16", "measured fp8",
                      "model fp8"]
    model_bf16 = mm.get_lines()[1].get_ydata()
    assert max(model_bf16) <= 9.89e14 * 1.0001  # never above the peak
    assert len(coll.get_lines()) == 4
    assert "SYNTHETIC TEST FIXTURE" in _texts(fig)
    assert "registry H100" in _texts(fig)


def test_stored_measurements_refuse_a_fixture(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "x.json")
    with pytest.raises(ValueError, match="synthetic test fixture"):
        gpus.stored_measurements(tmp_path)


def test_stored_measurements_refuse_a_cpu_run(tmp_path):
    m = json.loads(FIXTURE.read_text())
    m["synthetic_test_fixture"] = False
    m["device"]["platform"] = "cpu"
    (tmp_path / "cpu.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="not a GPU"):
        gpus.stored_measurements(tmp_path)


def test_the_shipped_folder_holds_only_real_gpu_runs():
    for m in gpus.stored_measurements(DATA):
        assert m["device"]["platform"] == "gpu"
    assert gpus.stored_measurements(ROOT / "no-such-folder") == []


def test_bad_files_get_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        gpus.load_measurement(bad)
    bad.write_text(json.dumps({"schema": gpus.SCHEMA}))
    with pytest.raises(ValueError, match="lacks device"):
        gpus.load_measurement(bad)


def test_match_chip_prefers_the_longer_name():
    assert gpus.match_chip("NVIDIA GB200").name == "GB200 NVL72"
    assert gpus.match_chip("NVIDIA B200").name == "B200"
    assert gpus.match_chip("NVIDIA A100-SXM4-80GB").name == "A100"
    assert gpus.match_chip("Tesla V100") is None


def test_node_figure_reads_the_registry():
    text = _texts(gpus.draw_node("H100"))
    assert "18 NVLinks x 25 GB/s = 450 GB/s" in text
    assert "4 NVSwitches" in text and "400 GB/s per node" in text
    with pytest.raises(ValueError, match="draw_nvl72"):
        gpus.draw_node("GB200 NVL72")


def test_nvl72_figure_is_one_domain_of_72():
    text = _texts(gpus.draw_nvl72())
    assert "72 GPUs" in text and "18 NVSwitch" in text and "3.6 TB/s" in text


def test_fat_tree_figure_shows_the_oversubscription():
    assert "16 spine switches" in _texts(gpus.draw_fat_tree())
    text = _texts(gpus.draw_fat_tree(oversubscription=2))
    assert "8 spine switches" in text and "oversubscription 2" in text
    with pytest.raises(ValueError, match="no leaf level"):
        gpus.draw_fat_tree("H100", 8)
    with pytest.raises(ValueError, match="must be >= 1"):
        gpus.draw_fat_tree(oversubscription=0.5)
