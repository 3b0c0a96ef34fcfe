"""Project-wide pytest hooks: the per-notebook execution budget.

nbval runs each notebook cell as one test item.  We add up the time of the
cells of each notebook and fail the run if a notebook exceeds its budget.
"""
from __future__ import annotations

import collections
import pathlib

NOTEBOOK_BUDGET_S = 45.0
_times: dict[str, float] = collections.defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _times:
        return
    tr = terminalreporter
    tr.section("notebook execution time (budget %.0f s each)" % NOTEBOOK_BUDGET_S)
    for path, t in sorted(_times.items()):
        flag = "  OVER BUDGET" if t > NOTEBOOK_BUDGET_S else ""
        tr.write_line(f"{t:6.1f} s  {path}{flag}")
    tr.write_line(f"{sum(_times.values()):6.1f} s  total")


def pytest_sessionfinish(session, exitstatus):
    over = [p for p, t in _times.items() if t > NOTEBOOK_BUDGET_S]
    if over and session.exitstatus == 0:
        session.exitstatus = 1
        print("\nnotebooks over the execution budget: " + ", ".join(over))
