"""tools/gpu_measure.py: without a GPU it stops with a clear message; with
--allow-cpu it writes JSON the chapter's reader accepts (labelled cpu, so
it can never pass for a GPU measurement)."""
import json
import os
import pathlib
import subprocess
import sys

from scalebook.explore import gpus

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gpu_measure.py"


def _run(*args, devices=1):
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=str(ROOT / "lib"))
    return subprocess.run([sys.executable, str(TOOL), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_without_a_gpu_it_measures_nothing_and_says_so():
    r = _run("--quick")
    assert r.returncode == 2 and "No GPU visible to JAX" in r.stderr


def test_cpu_run_writes_a_readable_json(tmp_path):
    r = _run("--allow-cpu", "--quick", "--repeats", "1", "--out",
             str(tmp_path), devices=2)
    assert r.returncode == 0, r.stderr
    (path,) = tmp_path.glob("*.json")
    m = gpus.load_measurement(path)
    assert m["device"]["platform"] == "cpu" and m["device"]["count"] == 2
    assert m["synthetic_test_fixture"] is False
    assert {row["dtype"] for row in m["matmul"]} == {"bf16"}
    assert "fp8" in m["matmul_skipped"]
    assert {c["kind"] for c in m["collectives"]} == {"all-gather",
                                                     "all-reduce"}
    assert all(c["seconds"] > 0 for c in m["collectives"])
    assert json.loads(path.read_text())["software"]["jax"]
