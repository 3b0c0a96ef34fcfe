"""Library tests run with 8 simulated CPU devices, set before JAX starts.

`--jax-only` (used by `make unit311`) leaves out the test modules that need
no JAX (tests/unit/jax_use.py says which): they ran under `make unit`.
It also runs only the first case of each parametrized test in a module
marked `low_end_first_case`: modules whose cases feed the same JAX calls
different layouts, shapes or mistakes (every case ran under `make unit`;
the low end checks that each test's JAX calls work on the old JAX, and one
case makes them).  Modules whose cases are different JAX calls (the API
canary) are not marked and run every case."""
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
    keep, drop, later_cases = [], [], []
    first_case_seen = set()
    for item in items:
        path = pathlib.Path(str(item.fspath))
        if path.parent == here and path.name in free:
            drop.append(item)
            continue
        if (getattr(item, "callspec", None) is not None
                and item.get_closest_marker("low_end_first_case")):
            test = (path.name, item.originalname)
            if test in first_case_seen:
                later_cases.append(item)
                continue
            first_case_seen.add(test)
        keep.append(item)
    if drop or later_cases:
        config.hook.pytest_deselected(items=drop + later_cases)
        items[:] = keep
        print(f"\n--jax-only: {len(drop)} tests in {len(free)} JAX-free modules "
              f"and {len(later_cases)} later cases of {len(first_case_seen)} "
              "parametrized tests (modules marked low_end_first_case) ran "
              "once, under `make unit`")
