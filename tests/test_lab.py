"""`make lab` gives a working JupyterLab with the ipywidgets front end.

The environment `make lab` opens is `.venv` (see the Makefile); JupyterLab
is in requirements.lock, so `make test` installs the same JupyterLab into
it and these tests check what a reader gets.  The server test starts JupyterLab on a free loopback port, asks for
the lab page and the widget manager's extension, and stops it.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from helpers import ROOT

JUPYTER = pathlib.Path(sys.executable).parent / "jupyter"


def _need_lab():
    if not (JUPYTER.exists() and _run("lab", "--version").returncode == 0):
        pytest.fail("JupyterLab is not installed in this environment: run "
                    "`make book` (it installs requirements.lock, which has it)")


def _run(*args, timeout=60):
    return subprocess.run([str(JUPYTER), *args], capture_output=True,
                          text=True, timeout=timeout)


def test_the_lab_target_opens_jupyterlab_from_the_book_venv():
    make = (ROOT / "Makefile").read_text()
    assert "lab: $(VENV)/.installed" in make
    lock = (ROOT / "requirements.lock").read_text()
    assert "\njupyterlab==4." in lock and "\njupyterlab-widgets==" in lock
    assert "$(VENV)/bin/jupyter lab" in make and "--allow-root" in make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_jupyterlab_server_serves_the_lab_and_the_widget_extension(
        tmp_path):
    """What `make lab` starts: the lab from the book's venv (the lock pins
    JupyterLab 4, test_environment.py holds the venv to the lock), with the
    widget front end enabled."""
    _need_lab()
    port, token = _free_port(), "scalebook-test"
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}",
         f"--notebook-dir={ROOT}", "--ServerApp.open_browser=False"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(
                        f"{base}/api/status?token={token}", timeout=2) as r:
                    json.load(r)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("JupyterLab did not start within 60 s")
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/lab?token={token}",
                                    timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(
                f"{base}/lab/api/extensions?token={token}", timeout=10) as r:
            enabled = {e["name"] for e in json.load(r) if e.get("enabled")}
        # the extension manager spells the package name without '@' or '/'
        assert "jupyter-widgets-jupyterlab-manager" in enabled, enabled
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
