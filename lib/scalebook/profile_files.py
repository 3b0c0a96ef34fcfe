"""Find a profiler trace on disk and read its events: the first step of
reading a profile offline (Chapter 9 explains it; `scalebook.profiling`
turns the events into ops linked to the compiled HLO).

`jax.profiler.trace(dir)` writes, under ``dir/plugins/profile/<run>/``, a
``<host>.trace.json.gz`` (Chrome trace JSON: gzip + json) and a
``<host>.xplane.pb``.  `find_trace` picks the newest; `json_events` and
`xplane_events` return the same event records from either file: dicts
with name, ts and dur (µs), tid and args (``device_ordinal`` filled in
from the process or plane name when the args lack it).
"""
from __future__ import annotations

import gzip
import json
import pathlib
import re
import warnings

__all__ = ["find_trace", "json_events", "xplane_events"]


def find_trace(path: str | pathlib.Path) -> pathlib.Path:
    """The newest trace file under `path` (a log dir given to
    jax.profiler.trace, a run dir, or a .trace.json.gz/.xplane.pb file).

    Prefers the Chrome-trace JSON; falls back to the xplane.  Raises
    FileNotFoundError saying how to capture one when there is none.
    """
    p = pathlib.Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"{str(path)!r} does not exist. Capture a trace first: "
            f"profiling.capture(step, *args, logdir={str(path)!r}), or run "
            f"your steps inside `with jax.profiler.trace({str(path)!r}):`")
    if p.is_file():
        if p.name.endswith((".trace.json.gz", ".json.gz", ".json",
                            ".xplane.pb")):
            return p
        raise ValueError(f"{p.name!r} is not a profiler trace; give the log "
                         "directory, a .trace.json.gz or a .xplane.pb file")
    for pattern in ("*.trace.json.gz", "*.xplane.pb"):
        found = sorted(p.rglob(pattern), key=lambda f: f.stat().st_mtime)
        if found:
            return found[-1]
    raise FileNotFoundError(
        f"no profiler trace under {str(p)!r} (looked for *.trace.json.gz "
        "and *.xplane.pb in plugins/profile/<run>/). Capture one with "
        f"profiling.capture(step, *args, logdir={str(p)!r}), or run your "
        f"steps inside `with jax.profiler.trace({str(p)!r}):` and wait for "
        "them with .block_until_ready() before the block ends.")


def json_events(path: pathlib.Path) -> list[dict]:
    """Complete ('X') events of a Chrome trace: name, ts and dur in µs,
    tid, args; process names give a device when args lack one."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path.name!r} as Chrome trace JSON "
                         f"({err}); is the file complete?") from None
    events = data.get("traceEvents", []) if isinstance(data, dict) else data
    procs = {e.get("pid"): e.get("args", {}).get("name", "")
             for e in events if e.get("ph") == "M"
             and e.get("name") == "process_name"}
    out = []
    for e in events:
        if e.get("ph") != "X":
            continue
        args = dict(e.get("args", {}))
        if "device_ordinal" not in args:
            m = re.search(r"/device:[A-Za-z]+:(\d+)", procs.get(e.get("pid"),
                                                                ""))
            if m:
                args["device_ordinal"] = m.group(1)
        out.append({"name": e.get("name", ""), "ts": float(e.get("ts", 0)),
                    "dur": float(e.get("dur", 0)),
                    "tid": (e.get("pid"), e.get("tid")), "args": args})
    return out


def xplane_events(path: pathlib.Path) -> list[dict]:
    """The same events read from the .xplane.pb with jax.profiler.ProfileData.

    Python 3.12 warns (DeprecationWarning) when JAX first builds the stats
    type; with warnings turned into errors that aborts the process, so the
    warning is silenced here, for this read only.
    """
    import jax

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        data = jax.profiler.ProfileData.from_file(str(path))
        for plane in data.planes:
            dev = re.search(r"/device:[A-Za-z]+:(\d+)", plane.name)
            for line in plane.lines:
                for ev in line.events:
                    args = {k: v for k, v in ev.stats}
                    if dev and "device_ordinal" not in args:
                        args["device_ordinal"] = dev.group(1)
                    out.append({"name": ev.name,
                                "ts": ev.start_ns / 1e3,
                                "dur": ev.duration_ns / 1e3,
                                "tid": (plane.name, line.name),
                                "args": args})
    return out
