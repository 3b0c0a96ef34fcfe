"""Library tests run with 8 simulated CPU devices, set before JAX starts.

`--jax-only` (used by `make unit311`) leaves out the test modules that need
no JAX (tests/unit/jax_use.py says which): they ran under `make unit`."""
import pathlib

import pytest

import scalebook

scalebook.use_cpu_devices(8)


@pytest.fixture(autouse=True)
def _own_progress_ledger(tmp_path, monkeypatch):
    """Each test records its checks in a ledger of its own (sb.check writes
    one), never in the working directory."""
    monkeypatch.setenv("SCALEBOOK_PROGRESS",
                       str(tmp_path / "scalebook-progress.json"))


def pytest_addoption(parser):
    parser.addoption("--jax-only", action="store_true",
                     help="run only the test modules that use JAX")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--jax-only"):
        return
    from jax_use import jax_free_test_files

    here = pathlib.Path(__file__).parent
    free = jax_free_test_files(here)
    keep, drop = [], []
    for item in items:
        path = pathlib.Path(str(item.fspath))
        (drop if path.parent == here and path.name in free else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        print(f"\n--jax-only: {len(drop)} tests in {len(free)} JAX-free modules "
              "ran once, under `make unit`")
