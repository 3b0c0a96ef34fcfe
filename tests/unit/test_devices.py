"""Simulated devices: the count is set once, before JAX starts."""
import subprocess
import sys

import jax
import pytest

import scalebook as sb


def test_eight_simulated_cpu_devices_are_visible():
    assert len(jax.devices()) == 8
    assert jax.default_backend() == "cpu"


def test_asking_again_for_the_same_count_is_harmless():
    assert len(sb.use_cpu_devices(8)) == 8


def test_a_different_count_after_startup_says_restart_the_kernel():
    with pytest.raises(RuntimeError, match="Restart the kernel"):
        sb.use_cpu_devices(4)


@pytest.mark.parametrize("bad", [0, -2, 2.5, "8", True])
def test_bad_device_counts_are_rejected(bad):
    with pytest.raises(ValueError, match="positive int"):
        sb.use_cpu_devices(bad)


def test_a_fresh_process_can_choose_another_count():
    code = ("import scalebook as sb; d = sb.use_cpu_devices(4); "
            "import jax; print(len(jax.devices()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"


def test_importing_scalebook_does_not_start_jax():
    code = ("import scalebook, scalebook.hardware, scalebook.grading;"
            "from scalebook.devices import _backend_started;"
            "print(_backend_started())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
