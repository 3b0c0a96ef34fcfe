"""The book's environment is the one its lock names.

Stored notebook outputs are compared against a fresh run, so a .venv that
drifted from requirements.lock (an old venv from before the lock, a package
upgraded by hand) would make nbval fail for reasons that have nothing to do
with the book. This test names the drift and the fix.
"""
import importlib.metadata as md
import os
import pathlib
import re
import subprocess
import sys

import pytest

from helpers import ROOT

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#\\]+)")


def locked(path: pathlib.Path) -> dict[str, str]:
    """{normalised name: version} of every pin in a lock file."""
    pins = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-").replace(".", "-")] = m.group(2)
    return pins


def installed() -> dict[str, str]:
    return {d.metadata["Name"].lower().replace("_", "-").replace(".", "-"): d.version
            for d in md.distributions()}


def drift(pins: dict[str, str], have: dict[str, str]) -> list[str]:
    """Packages whose installed version differs from the lock, or are missing."""
    return [f"{name} {have.get(name, 'missing')} (lock {v})"
            for name, v in sorted(pins.items()) if have.get(name) != v]


def test_lock_files_pin_every_package_exactly():
    for name in ("requirements.lock", "requirements-311.lock"):
        lines = [ln for ln in (ROOT / name).read_text().splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")]
        loose = [ln for ln in lines if not PIN.match(ln.strip())]
        assert not loose, f"{name} has unpinned lines: {loose[:3]} (run make lock)"
    book = locked(LOCK)
    assert book["jax"].startswith("0.12") and book["jupyter-book"].startswith("1.")
    assert locked(ROOT / "requirements-311.lock")["jax"].startswith("0.10")


@pytest.mark.skipif(pathlib.Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="runs in the book's .venv (make test)")
def test_the_venv_matches_requirements_lock():
    bad = drift(locked(LOCK), installed())
    assert not bad, ("the .venv differs from requirements.lock: " + ", ".join(bad[:8])
                     + ". Run `make book` again: it brings .venv in line with the lock.")


def test_drift_names_the_package_and_the_locked_version():
    assert drift({"jax": "0.12.1", "numpy": "2.0"}, {"jax": "0.12.0.1", "numpy": "2.0"}) \
        == ["jax 0.12.0.1 (lock 0.12.1)"]
    assert drift({"rich": "1"}, {}) == ["rich missing (lock 1)"]


def test_an_unsatisfiable_lock_says_to_run_make_lock(tmp_path):
    """A locked version the index no longer serves (yanked): the install
    fails naming the package and the fix. Offline, so no network is used."""
    lock = tmp_path / "bad.lock"
    lock.write_text("scalebook-no-such-package==0.0.1\n")
    uv = pathlib.Path(sys.prefix) / "bin" / "uv"
    if not uv.exists():
        pytest.skip("uv is installed into .venv by make")
    env = dict(os.environ, UV_OFFLINE="1")
    out = subprocess.run([str(ROOT / "tools" / "venv-sync"), str(tmp_path / "venv"),
                          str(lock), sys.executable, "0", str(uv)],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode != 0
    assert "scalebook-no-such-package" in out.stderr
    assert "make lock" in out.stderr
