"""scalebook.profile_files finds the newest trace under a log directory and
reads its Chrome-trace events, with the device taken from the process name
when the event's args lack it; a bad path says how to capture a trace."""
import gzip
import json

import pytest

from scalebook import profile_files


def _write(run, name, events):
    run.mkdir(parents=True, exist_ok=True)
    with gzip.open(run / name, "wt") as f:
        json.dump({"traceEvents": events}, f)
    return run / name


def test_find_trace_returns_the_trace_and_json_events_reads_it(tmp_path):
    path = _write(tmp_path / "plugins" / "profile" / "r", "h.trace.json.gz", [
        {"ph": "M", "name": "process_name", "pid": 3,
         "args": {"name": "/device:CPU:5"}},
        {"ph": "X", "name": "dot.1", "ts": 10, "dur": 4, "pid": 3, "tid": 1},
        {"ph": "i", "name": "marker", "ts": 11, "pid": 3, "tid": 1}])
    assert profile_files.find_trace(tmp_path) == path
    (ev,) = profile_files.json_events(path)
    assert (ev["name"], ev["ts"], ev["dur"]) == ("dot.1", 10.0, 4.0)
    assert ev["args"]["device_ordinal"] == "5"


def test_bad_paths_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        profile_files.find_trace(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="capture"):
        profile_files.find_trace(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a profiler trace"):
        profile_files.find_trace(tmp_path / "notes.txt")
    broken = tmp_path / "b.trace.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="is the file complete"):
        profile_files.json_events(broken)
