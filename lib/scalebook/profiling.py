"""Read a profile offline: which HLO ops ran on which device, in what
order, for how long, and which line of the compiled HLO each one is.

Chapter 9 (Profiling) explains it.  `jax.profiler.trace(dir)` writes,
under ``dir/plugins/profile/<run>/``, a ``<host>.trace.json.gz`` (Chrome
trace JSON: gzip + json) and a ``<host>.xplane.pb``.  Everything here
reads those files with what JAX already ships: the JSON with the
standard library, the xplane with `jax.profiler.ProfileData`.  No
TensorBoard, nothing downloaded.

- `capture(fn, *args)` compiles, runs a warm-up, traces a few steps and
  returns a `Trace` linked to the compiled HLO;
- `load(path, hlo=compiled)` reads a trace someone else captured;
- `Trace.summary()` adds up time by kind of op (dot, fusion, collective,
  copy, other); `Trace.ops_table()` lists the ops with their HLO line;
  `Trace.collectives()` puts each collective's measured time beside the
  bytes `scalebook.hlo` reads from the same program; the timeline (one
  row per device) is drawn by `scalebook.explore.profiling.timeline`.

What the times mean on simulated CPU devices: the 8 "devices" are threads
sharing the machine's cores, so a collective's duration is mostly threads
waiting for each other (XLA:CPU records that wait as ``Rendezvous``
events, which `Op.wait_us` adds up).  Read these traces for structure:
which ops ran, in what order, which collectives and how often.  Take time
from the cost model (`scalebook.comms`, `scalebook.roofline`).

Units: microseconds (µs) for times, bytes for sizes.
"""
from __future__ import annotations

import math
import pathlib
import re
import statistics
import tempfile
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from scalebook import hlo as _hlo
from scalebook.profile_files import find_trace, json_events, xplane_events
from scalebook.tabular import Table

__all__ = ["KINDS", "COLORS", "Op", "Trace", "capture", "load", "kind_of",
           "find_trace", "xprof_available", "xprof_tools", "scoped_mlp",
           "Calibration", "tpu_v2_calibration"]

KINDS = ("dot", "fusion", "collective", "copy", "other")
"""The kinds of op a trace is summarised by: a matmul (or a fusion around
one), any other fusion, a collective, a data copy or layout change, the
rest (loops, custom calls, ...)."""

COLORS = {"dot": "tab:blue", "fusion": "tab:green", "collective": "tab:red",
          "copy": "tab:orange", "other": "tab:gray"}
"""One colour per kind, used by every figure of a trace."""

_MOVES = frozenset({
    "parameter", "constant", "copy", "copy-start", "copy-done", "transpose",
    "bitcast", "bitcast-convert", "reshape", "broadcast", "slice",
    "dynamic-slice", "dynamic-update-slice", "concatenate", "pad", "gather",
    "tuple", "get-tuple-element", "reverse"})
"""Opcodes that only move or rearrange data: a fusion of nothing else is
counted as a copy."""

_CONTROL = frozenset({"while", "conditional", "call"})


@dataclass(frozen=True)
class Op:
    """One execution of one HLO op on one device.

    name: the HLO instruction name (its line in the compiled HLO);
    step: which traced execution of the program (0, 1, ...);
    start_us: from the start of that step (µs); dur_us: wall time (µs);
    self_us: dur_us minus the ops nested inside it (a while loop's body);
    wait_us: time spent in XLA:CPU's rendezvous inside it (collectives);
    kind: one of KINDS; nested: True for ops that contain others (loops).
    """

    name: str
    device: int
    step: int
    start_us: float
    dur_us: float
    self_us: float
    wait_us: float
    kind: str
    thread: int
    nested: bool = False


# ---------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------
def _base(opcode: str) -> str:
    for suffix in ("-start", "-done", "-update"):
        if opcode.endswith(suffix):
            return opcode[:-len(suffix)]
    return opcode


def _kind_from_name(name: str) -> str:
    """Best guess from the instruction name alone (no HLO at hand)."""
    stem = re.sub(r"\.\d+$", "", name)
    if any(stem.startswith(k) for k in _hlo.KINDS):
        return "collective"
    if stem.startswith(("copy", "transpose")):
        return "copy"
    if stem.startswith(("dot", "convolution")):
        return "dot"
    if "fusion" in stem or stem.startswith("wrapped_"):
        return "fusion"
    return "other"


class _Kinds:
    """Classify instructions of one HLO module (cached by name)."""

    def __init__(self, index: dict[str, _hlo.Instruction]):
        self.index = index
        self.by_comp: dict[str, list[_hlo.Instruction]] = defaultdict(list)
        for ins in index.values():
            self.by_comp[ins.computation].append(ins)
        self._ops: dict[str, frozenset[str]] = {}

    def opcodes_in(self, comp: str, seen: frozenset = frozenset()
                   ) -> frozenset[str]:
        """Every opcode a computation runs, through the ones it calls."""
        if comp in self._ops:
            return self._ops[comp]
        ops: set[str] = set()
        for ins in self.by_comp.get(comp, ()):
            ops.add(ins.opcode)
            for c in ins.calls:
                if c not in seen and c != comp:
                    ops |= self.opcodes_in(c, seen | {comp})
        self._ops[comp] = frozenset(ops)
        return self._ops[comp]

    def kind(self, name: str) -> str:
        ins = self.index.get(name)
        if ins is None:
            return _kind_from_name(name)
        op = ins.opcode
        if _base(op) in _hlo.KINDS:
            return "collective"
        if op in ("dot", "convolution"):
            return "dot"
        if op in ("copy", "copy-start", "copy-done"):
            return "copy"
        if op in ("fusion", "custom-call"):
            inner = frozenset().union(*(self.opcodes_in(c)
                                        for c in ins.calls))
            if inner & {"dot", "convolution"}:
                return "dot"
            if op == "fusion":
                return "copy" if inner and inner <= _MOVES else "fusion"
        if op in _MOVES:
            return "copy"
        return "other"


def kind_of(name: str, hlo_text: str | None = None) -> str:
    """The kind (one of KINDS) of the instruction `name`: read from the
    HLO when given (a fusion around a dot is a dot; a fusion that only
    moves data is a copy), guessed from the name otherwise."""
    if hlo_text is None:
        return _kind_from_name(name)
    return _Kinds(_hlo.instructions(hlo_text)).kind(name)


# ---------------------------------------------------------------------------
# The trace
# ---------------------------------------------------------------------------
def _module_name(text: str) -> str | None:
    m = re.search(r"^HloModule\s+([\w.\-]+)", text, re.M)
    return m.group(1) if m else None


def _self_times(ops: list[dict]) -> None:
    """Fill 'self' and 'nested' of events on one thread (sorted by ts)."""
    stack: list[dict] = []
    for e in ops:
        e["self"], e["nested"] = e["dur"], False
        end = e["ts"] + e["dur"]
        while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
            stack.pop()
        if stack and end <= stack[-1]["ts"] + stack[-1]["dur"] + 1e-6:
            stack[-1]["self"] -= e["dur"]
            stack[-1]["nested"] = True
        stack.append(e)


def _waits(ops: list[dict], waits: list[dict]) -> None:
    """Add to each op the rendezvous time inside it (same thread)."""
    by_tid: dict[Any, list[dict]] = defaultdict(list)
    for w in waits:
        by_tid[w["tid"]].append(w)
    for e in ops:
        e["wait"] = 0.0
        if e["nested"]:
            continue
        lo, hi = e["ts"], e["ts"] + e["dur"]
        for w in by_tid.get(e["tid"], ()):
            overlap = min(hi, w["ts"] + w["dur"]) - max(lo, w["ts"])
            if overlap > 0:
                e["wait"] += overlap


class Trace:
    """The HLO ops of one compiled program, as a profile recorded them.

    Built by `capture` or `load`.  `ops` are in time order per device;
    `hlo` is the compiled HLO text when known (then every op links to its
    line, and kinds are read from it rather than guessed from names).
    """

    def __init__(self, ops: Iterable[Op], module: str, path: pathlib.Path,
                 hlo_text: str | None = None,
                 other_modules: tuple[str, ...] = (), mesh: Any = None):
        self.ops = tuple(ops)
        self.mesh = mesh
        self.module = module
        self.path = path
        self.hlo = hlo_text
        self.other_modules = other_modules
        self._index = _hlo.instructions(hlo_text) if hlo_text else {}

    def __repr__(self) -> str:
        return (f"Trace({self.module}: {len(self.ops)} op executions on "
                f"{len(self.devices)} devices over {self.n_steps} steps)")

    # ---- what is in it ---------------------------------------------------
    @property
    def devices(self) -> list[int]:
        """Device ids that ran ops."""
        return sorted({o.device for o in self.ops})

    @property
    def n_steps(self) -> int:
        """How many executions of the program the trace holds."""
        return len({o.step for o in self.ops})

    def names(self, kind: str | None = None) -> list[str]:
        """Distinct op names (of one kind), in the order device 0 ran them."""
        first = [o for o in self.ops if o.device == self.devices[0]]
        seen: dict[str, None] = {}
        for o in sorted(first, key=lambda o: (o.step, o.start_us)):
            if kind is None or o.kind == kind:
                seen.setdefault(o.name, None)
        return list(seen)

    def instruction(self, name: str) -> _hlo.Instruction:
        """The compiled-HLO instruction an op name refers to."""
        if not self._index:
            raise ValueError("this trace has no HLO attached: load it with "
                             "load(path, hlo=compiled) to link ops to lines")
        if name not in self._index:
            raise KeyError(f"{name!r} is not an instruction of {self.module}")
        return self._index[name]

    def step_time_us(self) -> float:
        """Median over steps of the wall time from the first op start to
        the last op end, any device (µs)."""
        spans = defaultdict(lambda: [math.inf, -math.inf])
        for o in self.ops:
            s = spans[o.step]
            s[0] = min(s[0], o.start_us)
            s[1] = max(s[1], o.start_us + o.dur_us)
        return statistics.median(b - a for a, b in spans.values())

    # ---- tables ------------------------------------------------------------
    def _per_step(self, ops: Iterable[Op], value) -> float:
        """Mean over devices and steps of the sum of value(op)."""
        n = len(self.devices) * self.n_steps
        return sum(value(o) for o in ops) / n if n else 0.0

    def summary(self) -> Table:
        """Time by kind of op, per device and step (µs, self time: a loop's
        body counts once, in its own ops), with the share of it spent
        waiting in rendezvous."""
        leaf = [o for o in self.ops if not o.nested]
        total = self._per_step(leaf, lambda o: o.self_us)
        rows = []
        for k in KINDS:
            ops = [o for o in leaf if o.kind == k]
            if not ops:
                continue
            t = self._per_step(ops, lambda o: o.self_us)
            w = self._per_step(ops, lambda o: o.wait_us)
            rows.append([k, self._per_step(ops, lambda o: 1), t,
                         100 * t / total if total else 0.0, w])
        return Table(["kind", "ops/step", "µs/step", "% of time",
                      "µs waiting"], rows,
                     formats={"ops/step": ".0f", "µs/step": ",.0f",
                              "% of time": ".0f", "µs waiting": ",.0f"},
                     title=f"{self.module}: per device and step, "
                           f"{len(self.devices)} devices, {self.n_steps} "
                           "steps")

    def ops_table(self, kind: str | None = None, top: int | None = None
                  ) -> Table:
        """One row per HLO op (of one kind): executions and µs per device
        and step, its shape, and its line in the compiled HLO."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got "
                             f"{kind!r}")
        by_name: dict[str, list[Op]] = defaultdict(list)
        for o in self.ops:
            if not o.nested and (kind is None or o.kind == kind):
                by_name[o.name].append(o)
        rows = []
        for name, ops in by_name.items():
            ins = self._index.get(name)
            rows.append([name, ops[0].kind,
                         self._per_step(ops, lambda o: 1),
                         self._per_step(ops, lambda o: o.self_us),
                         ins.shape if ins else None,
                         ins.line_no if ins else None])
        rows.sort(key=lambda r: -r[3])
        return Table(["op", "kind", "runs/step", "µs/step", "shape",
                      "HLO line"], rows[:top],
                     formats={"runs/step": ".0f", "µs/step": ",.1f"},
                     title=f"{self.module}: ops by time per device and step")

    def collectives(self, mesh: Any = None, chip: Any = None) -> Table:
        """Each collective op: runs per step, bytes each device sends per
        run (read from the HLO by `scalebook.hlo`), measured µs per step and
        the share of it spent waiting.  With `chip` (e.g. "v5e"), a last
        column gives what `scalebook.comms` predicts the same collectives
        take per step on that chip (µs): the time to believe."""
        if not self.hlo:
            raise ValueError("bytes come from the HLO: load the trace with "
                             "hlo=compiled (or capture it with capture())")
        mesh = mesh if mesh is not None else self.mesh
        colls = self._collectives(mesh)
        rows = []
        for name in self.names("collective"):
            ops = [o for o in self.ops if o.name == name]
            c = colls.get(name)
            runs = self._per_step(ops, lambda o: 1)
            t = self._per_step(ops, lambda o: o.self_us)
            w = self._per_step(ops, lambda o: o.wait_us)
            row = [name, c.kind if c else "?",
                   ",".join(c.mesh_axes or ()) if c else None, runs,
                   c.bytes_per_device if c else None, t,
                   100 * w / t if t else 0.0]
            if chip is not None:
                row.append(self._model_us(c, mesh, chip) * runs
                           if c is not None else None)
            rows.append(row)
        header = ["op", "collective", "axes", "runs/step", "bytes/run",
                  "µs/step", "% waiting"]
        formats = {"runs/step": ".0f", "bytes/run": ",.0f",
                   "µs/step": ",.0f", "% waiting": ".0f"}
        if chip is not None:
            from scalebook import hardware

            col = f"{hardware.chip(chip).name} µs/step (model)"
            header.append(col)
            formats[col] = ",.2f"
        return Table(header, rows, formats=formats,
                     title=f"{self.module}: collectives per device and step")

    @staticmethod
    def _model_us(c: _hlo.Collective, mesh: Any, chip: Any) -> float:
        """What scalebook.comms predicts one run of `c` takes on `chip`."""
        from scalebook import comms

        if mesh is None or not c.mesh_axes:
            raise ValueError("predicting a collective's time needs the mesh "
                             "axes it runs over: pass mesh=")
        out = c.result_bytes
        v = comms.array_bytes_from_output(c.kind, out, c.group_size)
        if c.kind == "collective-permute":
            v = c.bytes_per_device
        return comms.cost(c.kind, v, mesh, c.mesh_axes, chip).time * 1e6

    def _collectives(self, mesh: Any) -> dict[str, _hlo.Collective]:
        """The HLO's collectives by name (parsed once per mesh)."""
        key = id(mesh)
        cache = self.__dict__.setdefault("_colls", {})
        if key not in cache:
            cache[key] = (mesh, {c.name: c for c in _hlo.collectives(
                self.hlo, mesh=mesh)})
        return cache[key][1]

    def runs_by_kind(self, mesh: Any = None) -> dict[str, float]:
        """{collective kind: runs per step}, summed over the collective
        ops of that kind (Chapter 9 sets the bug's against the fix's)."""
        runs: dict[str, float] = {}
        for row in self.collectives(mesh).records():
            runs[row["collective"]] = (runs.get(row["collective"], 0)
                                       + row["runs/step"])
        return runs

    def bytes_per_step(self, mesh: Any = None) -> float:
        """Bytes each device sends in one step: each collective's bytes
        (from the HLO) times how often the trace saw it run per step."""
        if not self.hlo:
            raise ValueError("bytes come from the HLO: load the trace with "
                             "hlo=compiled")
        colls = self._collectives(mesh if mesh is not None else self.mesh)
        total = 0.0
        for name in self.names("collective"):
            runs = self._per_step([o for o in self.ops if o.name == name],
                                  lambda o: 1)
            if name in colls:
                total += colls[name].bytes_per_device * runs
        return total


def _build(events: list[dict], path: pathlib.Path, hlo_text: str | None,
           module: str | None, mesh: Any = None) -> Trace:
    ops = [e for e in events if "hlo_op" in e["args"]
           and "device_ordinal" in e["args"]]
    if not ops:
        raise ValueError(
            f"the trace {path.name!r} holds no XLA op: the traced block ran "
            "no compiled program, or returned before it finished. Call "
            ".block_until_ready() on each step's result inside the `with "
            "jax.profiler.trace(...)` block.")
    counts = Counter(e["args"].get("hlo_module", "?") for e in ops)
    want = _module_name(hlo_text) if hlo_text else module
    if want is None:
        want = counts.most_common(1)[0][0]
    if want not in counts:
        raise ValueError(
            f"this trace is of {', '.join(sorted(counts))}, not of {want}: "
            "it comes from another program. Capture the trace of the "
            "program you compiled (profiling.capture(fn, *args)), or pass "
            "the HLO of the program that was traced.")
    ops = [e for e in ops if e["args"].get("hlo_module", "?") == want]
    kinds = _Kinds(_hlo.instructions(hlo_text)) if hlo_text else None
    if kinds is not None:
        missing = sorted({e["args"]["hlo_op"] for e in ops}
                         - set(kinds.index))
        if missing:
            raise ValueError(
                f"{len(missing)} op(s) of the trace, such as {missing[0]!r}, "
                f"are not in the HLO you gave: the trace comes from another "
                f"program that is also called {want}. Capture the trace of "
                "this very compiled program, or pass the HLO of the traced "
                "one.")
    # steps: one run_id per execution, numbered in time order
    first: dict[str, float] = {}
    for e in ops:
        rid = str(e["args"].get("run_id", "0"))
        first[rid] = min(first.get(rid, math.inf), e["ts"])
    step_of = {rid: i for i, rid in enumerate(sorted(first, key=first.get))}
    by_tid: dict[Any, list[dict]] = defaultdict(list)
    for e in ops:
        by_tid[e["tid"]].append(e)
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        _self_times(evs)
    waits = [e for e in events if e["name"] == "Rendezvous"]
    _waits(ops, waits)
    out = []
    for e in ops:
        rid = str(e["args"].get("run_id", "0"))
        name = e["args"]["hlo_op"]
        out.append(Op(
            name=name, device=int(e["args"]["device_ordinal"]),
            step=step_of[rid], start_us=e["ts"] - first[rid],
            dur_us=e["dur"], self_us=max(e["self"], 0.0), wait_us=e["wait"],
            kind=kinds.kind(name) if kinds else _kind_from_name(name),
            thread=hash(e["tid"]), nested=e["nested"]))
    out.sort(key=lambda o: (o.step, o.device, o.start_us))
    others = tuple(sorted(m for m in counts if m != want))
    return Trace(out, want, path, hlo_text, others, mesh)


def load(path: str | pathlib.Path, hlo: Any = None,
         module: str | None = None) -> Trace:
    """Read a trace from a log directory (or a trace file).

    hlo: the compiled program that was traced (a `Compiled`, or its HLO
    text); with it, ops
    link to their HLO lines, kinds are read from the HLO, and a trace of
    another program is refused with a message.  module: which program to
    read when the trace holds several (default: the one `hlo` names, else
    the one with most ops; the others are listed in `other_modules`).
    """
    file = find_trace(path)
    text, mesh = None, None
    if hlo is not None:
        text = hlo if isinstance(hlo, str) else _hlo.hlo_text(hlo)
        if not isinstance(hlo, str):
            mesh = _hlo._mesh_from(_hlo.compiled(hlo))
    events = (xplane_events(file) if file.name.endswith(".xplane.pb")
              else json_events(file))
    return _build(events, file, text, module, mesh)


def capture(fn: Any, *args: Any, steps: int = 3,
            logdir: str | pathlib.Path | None = None,
            source: str = "json") -> Trace:
    """Compile `fn(*args)`, run it once untraced, then trace `steps` runs
    (each waited for) with jax.profiler.trace and read the trace back.

    fn may be a function, a jitted function or a `Compiled`.  logdir: where
    the trace goes (default: a fresh temporary directory).  source: read
    the "json" (Chrome trace) or the "xplane" file.  A few steps of a small
    program keep the files well under a few MB.  Chapter 9 profiles its
    sharded model with it.
    """
    import jax

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if source not in ("json", "xplane"):
        raise ValueError(f"source must be 'json' or 'xplane', got {source!r}")
    compiled = _hlo.compiled(fn, *args)
    jax.block_until_ready(compiled(*args))          # warm-up, untraced
    logdir = pathlib.Path(logdir or tempfile.mkdtemp(prefix="sb-trace-"))
    with jax.profiler.trace(str(logdir)):
        for _ in range(steps):
            jax.block_until_ready(compiled(*args))
    file = find_trace(logdir)
    if source == "xplane":
        file = sorted(file.parent.glob("*.xplane.pb"))[-1]
    return load(file, hlo=compiled)


def xprof_available() -> bool:
    """True when the optional `xprof` package is importable (it adds
    TensorBoard-style tools; nothing in the book needs it)."""
    import importlib.util

    return importlib.util.find_spec("xprof") is not None


def xprof_tools(trace: Trace) -> Table:
    """What the optional `xprof` package makes of this trace's .xplane.pb:
    each tool it offers and the bytes of data that tool returned (0: it
    has nothing for this backend).  Needs xprof installed."""
    if not xprof_available():
        raise ModuleNotFoundError(
            "xprof is not installed (pip install xprof); nothing in the book "
            "needs it")
    from xprof.convert import raw_to_tool_data as raw

    planes = sorted(trace.path.parent.glob("*.xplane.pb"))
    if not planes:
        raise FileNotFoundError(f"no .xplane.pb beside {trace.path.name}")
    paths = [str(planes[-1])]
    rows = []
    for tool in raw.xspace_to_tool_names(paths):
        try:
            data, _ = raw.xspace_to_tool_data(paths, tool, {})
        except Exception:  # noqa: BLE001 - a tool with nothing to show
            data = None
        rows.append([tool, len(data) if data else 0])
    return Table(["xprof tool", "bytes of data"], rows,
                 formats={"bytes of data": ",.0f"},
                 title="what xprof extracts from this trace")


# ---------------------------------------------------------------------------
# Naming your own rows: jax.named_scope
# ---------------------------------------------------------------------------
def scoped_mlp(x: Any, w_up: Any, w_down: Any) -> Any:
    """relu(x @ w_up) @ w_down with each step inside a `jax.named_scope`
    ("mlp/up", "mlp/act", "mlp/down"), so the compiled ops carry those names
    in their metadata (Chapter 9)."""
    import jax

    with jax.named_scope("mlp"):
        with jax.named_scope("up"):
            h = x @ w_up
        with jax.named_scope("act"):
            h = jax.nn.relu(h)
        with jax.named_scope("down"):
            return h @ w_down


# ---------------------------------------------------------------------------
# A worked calibration: the reference book's TPU v2 profile
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """One op of a real profile: what the cost model predicts and what the
    profile measured (seconds)."""

    what: str
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        """measured / predicted - 1 (a fraction)."""
        return self.measured / self.predicted - 1


def tpu_v2_calibration() -> list[Calibration]:
    """The worked profile of Austin et al. (2025), Part 9 (Chapter 9): a
    transformer step on 8 TPU v2 cores, 4-way data x 2-way tensor
    parallel.  Predictions from the roofline (FLOPs / per-core peak) and
    the link model (bytes / bidirectional link bandwidth, one hop); the
    measurements are the profile's.  Chip numbers from `hardware`."""
    from scalebook import hardware, counting

    v2 = hardware.TPU_V2_PROFILE
    b, t, d, f = v2["up_proj"]
    flops = counting.matmul_flops(b * t, d, f) / v2["cores"]
    up = Calibration(f"up-projection [{b},{t},{d}] x [{d},{f}]",
                     flops / v2["core_flops"], v2["up_proj_measured"])
    rs = Calibration(f"reduce-scatter of {v2['rs_bytes'] / 1e6:.0f} MB, 1 hop",
                     v2["rs_bytes"] / v2["link_bidi_bw"],
                     v2["rs_measured"])
    return [up, rs]
