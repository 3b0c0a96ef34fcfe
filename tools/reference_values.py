"""Store the checker's reference values for the running JAX.

Computes every value an exercise module wraps with
`scalebook.refvalues.stored` (compiling the book's reference programs) and
writes them to lib/scalebook/data/reference_values.json under the running
JAX and jaxlib, keeping other releases' entries.  Run it under each locked
environment after a JAX upgrade (tests/unit/test_refvalues.py fails until
the locked JAX has its entries):

  PYTHONPATH=$PWD/lib .venv/bin/python tools/reference_values.py
  PYTHONPATH=$PWD/lib .venv311/bin/python tools/reference_values.py
"""
from __future__ import annotations

import importlib
import sys


def main() -> int:
    import scalebook as sb
    from scalebook import refvalues
    from scalebook.exercises import chapters

    sb.use_cpu_devices(8)
    for ch in chapters():
        importlib.import_module(f"scalebook.exercises.{ch}")
    values = refvalues.compute_all()
    path = refvalues.write(values)
    print(f"{len(values)} values for {refvalues.version_key()} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
