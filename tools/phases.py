#!/usr/bin/env python3
"""Run `make` targets in lanes side by side; one line per phase with its
seconds, then the total.  Used by `make test`.

    tools/phases.py unit,notebooks unit311 browser,browser-zh,colab

Each argument is a lane: its targets run one after another; the lanes run
at the same time.  Why lanes: on a 2-core machine the browser phases keep
about one core busy (Sphinx builds on one thread, Chromium waits on pages),
so running them beside the test phases fills the idle core.

A phase's output goes to _build/test-logs/<phase>.log; the first phase to
fail stops the others, and its log is printed in full.  The summary gives
each phase's wall seconds (it shares the machine with the other lanes) and
its CPU seconds (the same on a busy or a quiet machine).
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOGS = ROOT / "_build" / "test-logs"


class Phase:
    def __init__(self, target: str, lane: int):
        self.target, self.lane = target, lane
        self.start = self.seconds = self.cpu = None
        self.rc: int | None = None
        self.log = LOGS / f"{target}.log"


class Runner:
    def __init__(self, lanes: list[list[str]]):
        self.lanes = [[Phase(t, i + 1) for t in lane] for i, lane in enumerate(lanes)]
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.failed: Phase | None = None
        self.procs: dict[str, subprocess.Popen] = {}

    def say(self, text: str) -> None:
        with self.lock:
            print(f"[{time.monotonic() - self.t0:5.0f} s] {text}", flush=True)

    def run_lane(self, lane: list[Phase]) -> None:
        for phase in lane:
            if self.failed:
                return
            phase.start = time.monotonic() - self.t0
            self.say(f"start {phase.target} (lane {phase.lane}, log "
                     f"{phase.log.relative_to(ROOT)})")
            with open(phase.log, "w") as log:
                proc = subprocess.Popen(
                    ["make", "--no-print-directory", phase.target],
                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
                with self.lock:
                    self.procs[phase.target] = proc
                # wait4 gives this phase's own CPU time (it and every
                # process it waited for), which getrusage cannot split
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            phase.rc = proc.returncode
            phase.seconds = time.monotonic() - self.t0 - phase.start
            phase.cpu = usage.ru_utime + usage.ru_stime
            with self.lock:
                self.procs.pop(phase.target, None)
                stopped = self.failed is not None
            if stopped:
                return
            if phase.rc != 0:
                self.fail(phase)
                return
            self.say(f"done  {phase.target}: {phase.seconds:.0f} s "
                     f"({phase.cpu:.0f} s CPU)")

    def fail(self, phase: Phase) -> None:
        with self.lock:
            if self.failed:
                return
            self.failed = phase
            others = list(self.procs.values())
        for proc in others:                      # stop the other lanes
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        with self.lock:
            print(f"\n===== log of the failed phase '{phase.target}' "
                  f"({phase.log.relative_to(ROOT)}) =====", flush=True)
            sys.stdout.write(phase.log.read_text(errors="replace"))
            print(f"make test: phase '{phase.target}' FAILED after "
                  f"{phase.seconds:.0f} s; the other phases were stopped "
                  f"(their logs are in {LOGS.relative_to(ROOT)}/)", flush=True)

    def run(self) -> int:
        LOGS.mkdir(parents=True, exist_ok=True)
        threads = [threading.Thread(target=self.run_lane, args=(lane,))
                   for lane in self.lanes]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except KeyboardInterrupt:
            for proc in list(self.procs.values()):
                os.killpg(proc.pid, signal.SIGTERM)
            raise
        if self.failed:
            return 1
        total = time.monotonic() - self.t0
        print("=== make test: phases (lanes run side by side; wall seconds "
              "overlap, CPU seconds add up)")
        print(f"{'phase':<12} {'lane':>4} {'from':>6} {'wall':>6} {'CPU':>6}")
        for lane in self.lanes:
            for p in lane:
                print(f"{p.target:<12} {p.lane:>4} {p.start:>5.0f}s "
                      f"{p.seconds:>5.0f}s {p.cpu:>5.0f}s")
        cpu = sum(p.cpu for lane in self.lanes for p in lane)
        print(f"{'total':<12} {'':>4} {'':>6} {total:>5.0f}s {cpu:>5.0f}s")
        return 0


def main(argv: list[str]) -> int:
    if not argv or any(not a.strip(",") for a in argv):
        print("usage: tools/phases.py TARGET[,TARGET...] [TARGET[,...] ...]\n"
              "each argument is a lane of make targets run in order; "
              "the lanes run side by side", file=sys.stderr)
        return 2
    lanes = [[t for t in a.split(",") if t] for a in argv]
    seen = [t for lane in lanes for t in lane]
    if len(seen) != len(set(seen)):
        print(f"tools/phases.py: a target is named twice in {argv}",
              file=sys.stderr)
        return 2
    return Runner(lanes).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
