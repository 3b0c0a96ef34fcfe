#!/usr/bin/env python3
"""Measure the GPU(s) JAX sees, for Chapter 12, and store the result as JSON.

What it measures (timing rules: `scalebook.bench`):

- matmul FLOP/s of N x N x N products against N, in bf16, and in fp8
  (float8_e4m3fn inputs, bf16 output) where the GPU has fp8 Tensor Cores
  (compute capability 8.9 or newer);
- HBM read bandwidth (a sum over a large array);
- with several GPUs: all-gather and all-reduce over all of them, against
  the array size.

It writes ``data/gpu_measurements/<device>-<date>.json`` (device name,
count, compute capability, driver, JAX version, date, every timing).  The
chapter reads that folder with `scalebook.explore.gpus`.

    python tools/gpu_measure.py            # on a GPU machine
    python tools/gpu_measure.py --quick    # smaller sizes, a minute or less

Without a GPU it stops and says so.  ``--allow-cpu --out DIR`` runs the
same code on the CPU, to test the script; such a run is labelled
"platform": "cpu" and is never written into data/gpu_measurements.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import pathlib
import platform as _platform
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "data" / "gpu_measurements"
SIZES = (256, 512, 1024, 2048, 4096, 8192)
QUICK_SIZES = (128, 256, 512)
HBM_BYTES = (256 * 2**20, 2**30)
QUICK_HBM_BYTES = (16 * 2**20,)
COLL_BYTES = (2**20, 2**24, 2**28)
QUICK_COLL_BYTES = (2**16, 2**20)


def _import_scalebook():
    try:
        import scalebook  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "lib"))


def _driver() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from jax.extend import backend
        return str(backend.get_backend().platform_version)
    except Exception:  # noqa: BLE001 - any failure: say unknown
        return "unknown"


def _has_fp8(dev) -> tuple[bool, str]:
    cc = getattr(dev, "compute_capability", None)
    if dev.platform != "gpu":
        return False, f"platform {dev.platform} has no fp8 Tensor Cores"
    try:
        major, minor = (int(x) for x in str(cc).split(".")[:2])
    except (TypeError, ValueError):
        return False, f"unknown compute capability {cc!r}"
    if (major, minor) < (8, 9):
        return False, (f"compute capability {cc} < 8.9: no fp8 Tensor "
                       "Cores (e.g. A100)")
    return True, ""


def measure_matmuls(sizes, fp8: bool, repeats: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from scalebook import bench

    rows = []
    for n in sizes:
        m = bench.measure_matmul(n, n, n, "bf16", repeats=repeats)
        rows.append({"dtype": "bf16", "n": n, "seconds": m.seconds,
                     "flops_per_s": 2 * n**3 / m.seconds})
    if not fp8:
        return rows
    dev = bench.device()
    rng = np.random.default_rng(0)

    def dot8(a, b):
        return jax.lax.dot(a, b, preferred_element_type=jnp.bfloat16)

    for n in sizes:
        a = jax.device_put(jnp.asarray(rng.standard_normal((n, n)),
                                       jnp.float8_e4m3fn), dev)
        b = jax.device_put(jnp.asarray(rng.standard_normal((n, n)),
                                       jnp.float8_e4m3fn), dev)
        g = jax.jit(dot8).lower(a, b).compile()
        hlo = g.as_text()
        t = bench.time_fn(g, a, b, repeats=repeats)
        rows.append({"dtype": "fp8", "n": n, "seconds": t.median,
                     "flops_per_s": 2 * n**3 / t.median,
                     "fp8_kernel": bool(re.search(r"f8e4m3fn.*custom-call|"
                                                  r"custom-call.*f8e4m3fn",
                                                  hlo))})
    return rows


def measure_hbm(sizes, repeats: int) -> list[dict]:
    from scalebook import bench

    out = []
    for nbytes in sizes:
        m = bench.measure_memory_bandwidth(nbytes, "read", repeats=repeats)
        out.append({"bytes": m.bytes, "seconds": m.seconds,
                    "bytes_per_s": m.byte_rate})
    return out


def measure_collectives(sizes, repeats: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from scalebook import bench, compat

    n = len(jax.devices())
    if n < 2:
        return []
    mesh = compat.make_mesh((n,), ("g",))
    gather = compat.shard_map(
        lambda x: jax.lax.all_gather(x, "g", tiled=True), mesh, P("g"),
        P(None))
    reduce = compat.shard_map(lambda x: jax.lax.psum(x, "g"), mesh, P("g"),
                              P("g"))
    out = []
    for v in sizes:
        elems = max(n, int(v // 2) // n * n)  # bf16 elements, n | elems
        x = jax.device_put(np.ones((elems,), np.float32).astype(jnp.bfloat16),
                           NamedSharding(mesh, P("g")))
        # V as scalebook.comms defines it: all-gather, the gathered array;
        # all-reduce, the array each device reduces (its shard here).
        for kind, f, vol in (("all-gather", gather, elems * 2),
                             ("all-reduce", reduce, elems * 2 // n)):
            t = bench.time_fn(jax.jit(f), x, repeats=repeats).median
            out.append({"kind": kind, "devices": n, "bytes": vol,
                        "seconds": t, "algbw": vol / t})
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=None,
                    help=f"folder for the JSON (default {DEFAULT_OUT})")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes only (for a first look or a test)")
    ap.add_argument("--allow-cpu", action="store_true",
                    help="run without a GPU (to test this script); needs "
                         "--out outside data/gpu_measurements")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    _import_scalebook()
    import jax
    import scalebook

    devs = jax.devices()
    plat = devs[0].platform
    if plat != "gpu" and not args.allow_cpu:
        print(f"No GPU visible to JAX (it sees {len(devs)} {plat} "
              "device(s)); nothing measured. Run this on a GPU machine "
              "with a CUDA build of jaxlib.", file=sys.stderr)
        return 2
    out_dir = args.out or DEFAULT_OUT
    if plat != "gpu" and out_dir.resolve() == DEFAULT_OUT.resolve():
        print("A run without a GPU must name --out: data/gpu_measurements "
              "holds GPU runs only.", file=sys.stderr)
        return 2
    fp8, why = _has_fp8(devs[0])
    sizes = QUICK_SIZES if args.quick else SIZES
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    result = {
        "schema": "scalebook-gpu-measurement/1",
        "synthetic_test_fixture": False,
        "device": {"name": devs[0].device_kind, "count": len(devs),
                   "platform": plat,
                   "compute_capability": str(getattr(
                       devs[0], "compute_capability", "n/a")),
                   "driver": _driver() if plat == "gpu" else "n/a"},
        "software": {"jax": jax.__version__,
                     "jaxlib": getattr(__import__("jaxlib"), "__version__",
                                       "?"),
                     "python": _platform.python_version(),
                     "scalebook": scalebook.__version__},
        "date": now.isoformat().replace("+00:00", "Z"),
        "matmul": measure_matmuls(sizes, fp8, args.repeats),
        "matmul_skipped": {} if fp8 else {"fp8": why},
        "hbm": measure_hbm(QUICK_HBM_BYTES if args.quick else HBM_BYTES,
                           args.repeats),
        "collectives": measure_collectives(
            QUICK_COLL_BYTES if args.quick else COLL_BYTES, args.repeats),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (f"{_slug(result['device']['name'])}-x"
                      f"{len(devs)}-{now.strftime('%Y%m%dT%H%M%SZ')}.json")
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
