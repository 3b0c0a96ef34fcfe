"""scalebook: the shared library of the executable textbook on scaling LLMs.

Import it as ``import scalebook as sb`` and call ``sb.use_cpu_devices(8)``
before anything else touches JAX.  Modules, one job each:

- ``devices``: simulated CPU devices (or real ones).
- ``hardware``: the registry of accelerator specs; the only place with
  hardware numbers.
- ``roofline``: time bounds, arithmetic intensity, roofline plots.
- ``bench``: honest timing and XLA cost analysis on the local device.
- ``grading``: the exercise checker (``sb.check``).
"""
from scalebook.devices import use_cpu_devices, use_real_devices
from scalebook.grading import check
from scalebook.hardware import chip, CHIPS

__version__ = "0.1.0"

REPOSITORY_URL = "https://github.com/scalebook/scalebook"
"""Where the book lives; the same URL as `repository.url` in _config.yml."""

__all__ = ["use_cpu_devices", "use_real_devices", "check", "chip", "CHIPS",
           "REPOSITORY_URL"]


def __getattr__(name: str):
    """Import submodules on first use, so `sb.roofline.x` works after
    `import scalebook as sb` without importing JAX before the device set-up."""
    import importlib

    try:
        return importlib.import_module(f"scalebook.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"scalebook.{name}":
            raise AttributeError(f"scalebook has no module or name {name!r}") from None
        raise
