"""Simulated devices: make JAX show N CPU devices before its backend starts.

Every notebook calls :func:`use_cpu_devices` in its first code cell.  On a
real TPU slice or GPU node, call :func:`use_real_devices` instead: nothing
else in the book changes.
"""
from __future__ import annotations

import os

_RESTART = ("JAX has already started its backend with {have} device(s); "
            "the device count can only be set before the first JAX "
            "operation. Restart the kernel and call "
            "scalebook.use_cpu_devices({want}) in the first cell.")


def backend_started() -> bool:
    """True once JAX has created its backends (after that, counts are fixed)."""
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - very old or very new JAX
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    if started is not None:
        return bool(started())
    return bool(getattr(xla_bridge, "_backends", {}))


_backend_started = backend_started


def use_cpu_devices(n: int = 8) -> list:
    """Expose `n` simulated CPU devices to JAX and return them.

    Must run before any JAX computation.  Calling it again with the same
    `n` is harmless; a different `n` after start-up raises a RuntimeError
    that says to restart the kernel.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the device count must be a positive int, got {n!r}")
    if os.environ.get("SCALEBOOK_JAX_WARNINGS") == "error":
        from scalebook.compat import strict_jax_warnings  # make notebooks
        strict_jax_warnings()
    import jax

    if _backend_started():
        have = len(jax.devices())
        if have == n and jax.default_backend() == "cpu":
            return jax.devices()
        raise RuntimeError(_RESTART.format(have=have, want=n))
    # The environment variable covers JAX versions without the config
    # option; the config option wins where both exist.
    flags = os.environ.get("XLA_FLAGS", "")
    flags = " ".join(f for f in flags.split()
                     if not f.startswith("--xla_force_host_platform_device_count"))
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={n}").strip()
    jax.config.update("jax_platforms", "cpu")
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except AttributeError:  # pragma: no cover - option missing in this JAX
        pass
    devices = jax.devices()
    if len(devices) != n:  # pragma: no cover - defensive
        raise RuntimeError(_RESTART.format(have=len(devices), want=n))
    return devices


def use_real_devices() -> list:
    """Use whatever accelerators JAX finds (a TPU slice, a GPU node)."""
    import jax

    return jax.devices()


def device_count() -> int:
    """Number of devices JAX exposes now."""
    import jax

    return len(jax.devices())
