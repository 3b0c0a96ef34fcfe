"""The installed package carries its data: build a wheel from the sources,
install it into an empty folder, and load the Chinchilla runs from there
(the path a `pip install git+<repo>` on Colab takes)."""
import importlib.util
import os
import shutil
import subprocess
import sys

from helpers import ROOT


def test_installed_wheel_loads_the_chinchilla_runs(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "lib", src / "lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    # Build with the setuptools at hand if there is one (offline); else let
    # pip fetch it into an isolated build environment.
    isolation = (["--no-build-isolation"]
                 if importlib.util.find_spec("setuptools") else [])
    subprocess.run(pip + ["wheel", "--no-deps", *isolation, "-w", str(wheels),
                          str(src)], check=True, cwd=src)
    (wheel,) = wheels.glob("scalebook-*.whl")
    subprocess.run(pip + ["install", "--no-deps", "--target", str(site),
                          str(wheel)], check=True)
    code = ("import scalebook, scalebook.scaling as s; r = s.load_chinchilla();"
            " print(scalebook.__file__); print(len(r))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    where, count = out.stdout.split()
    assert where.startswith(str(site)), f"imported from {where}, not the wheel"
    assert count == "245"
