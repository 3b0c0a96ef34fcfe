"""Project-wide pytest hooks: the per-notebook execution budget.

nbval runs each notebook cell as one test item in one kernel per notebook.
For each notebook we add up the cells' wall time and read the CPU time its
kernel process used (user + system, all its threads, from /proc), and fail
the run if a notebook's kernel used more than NOTEBOOK_BUDGET_S of CPU
(times SHARED_MACHINE_ALLOWANCE, for the lanes beside it).

Why CPU and not wall: `make test` runs its phases side by side on a small
machine, so a notebook's wall time there says how busy the machine was, not
how heavy the notebook is.  Its kernel's CPU time is the same busy or quiet,
and on a quiet machine the wall time is at most about that (XLA compiles on
one thread), so a notebook within the CPU budget executes within the budget
on a quiet machine.  Both numbers are printed.
"""
from __future__ import annotations

import collections
import os
import pathlib

import pytest

NOTEBOOK_BUDGET_S = 30.0
"""Seconds a notebook may take to execute on a quiet machine (the brief),
read as its kernel's CPU time."""

SHARED_MACHINE_ALLOWANCE = 1.10
"""CPU time is not quite load-free: on a machine that `make test`'s lanes
share, XLA's worker threads spin and miss caches, and a notebook's kernel
uses a few percent more CPU than alone (Chapter 5: 28.4 s alone, 30.6 s
beside the other lanes).  The run fails above the budget times this; the
summary marks every notebook over the budget itself."""

_wall: dict[str, float] = collections.defaultdict(float)
_cpu: dict[str, float] = {}


def kernel_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process `pid` and all its
    threads (Linux /proc); None where /proc cannot tell."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its ')'
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _kernel_pid(item) -> int | None:
    kernel = getattr(item.parent, "kernel", None)
    km = getattr(kernel, "km", None)
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "pid", None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield
    path = item.nodeid.split("::")[0]
    if not path.endswith(".ipynb"):
        return
    pid = _kernel_pid(item)
    cpu = kernel_cpu_seconds(pid) if pid else None
    if cpu is not None:
        # a property travels with the report to xdist's controller
        item.user_properties.append(("kernel_cpu_s", cpu))


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if not path.endswith(".ipynb"):
        return
    _wall[path] += report.duration
    for name, value in report.user_properties:
        if name == "kernel_cpu_s":
            _cpu[path] = max(value, _cpu.get(path, 0.0))


def _seconds(path: str) -> float:
    # where /proc gave no CPU time (not Linux), the wall time stands in
    return _cpu.get(path, _wall[path])


def _over_budget(limit: float = NOTEBOOK_BUDGET_S * SHARED_MACHINE_ALLOWANCE
                 ) -> list[str]:
    return [p for p in _wall if _seconds(p) > limit]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _wall:
        return
    tr = terminalreporter
    tr.section("notebook execution: kernel CPU (budget %.0f s each) and wall"
               % NOTEBOOK_BUDGET_S)
    over = set(_over_budget())
    near = set(_over_budget(NOTEBOOK_BUDGET_S)) - over
    for path in sorted(_wall):
        cpu = _cpu.get(path)
        cpu_text = f"{cpu:6.1f} s CPU" if cpu is not None else "     - s CPU"
        flag = ("  OVER BUDGET" if path in over else
                "  over 30 s here (within the shared-machine allowance)"
                if path in near else "")
        tr.write_line(f"{cpu_text}  {_wall[path]:6.1f} s wall  {path}{flag}")
    tr.write_line(f"{sum(_cpu.values()):6.1f} s CPU  "
                  f"{sum(_wall.values()):6.1f} s wall  total")


def pytest_sessionfinish(session, exitstatus):
    over = _over_budget()
    if over and session.exitstatus == 0:
        session.exitstatus = 1
        print("\nnotebooks over the execution budget "
              f"({NOTEBOOK_BUDGET_S:.0f} s of kernel CPU each, "
              f"x{SHARED_MACHINE_ALLOWANCE:.2f} on a shared machine): "
              + ", ".join(sorted(over))
              + ". Make the slow cells cheaper (smaller shapes, fewer "
              "compiles); the summary above lists each notebook's seconds.")
