"""Training runs for fitting a scaling law: N, C and the final loss of
each, and the Chinchilla runs shipped with the package (Chapter 13 fits
them with `scalebook.scaling`).

Units: parameters, FLOPs, nats per token.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from scalebook import counting

__all__ = ["Runs", "load_chinchilla"]


@dataclass(frozen=True, eq=False)
class Runs:
    """Training runs: N parameters, C training FLOPs and final loss
    (nats/token) per run, as float arrays of equal length."""

    N: np.ndarray
    C: np.ndarray
    loss: np.ndarray

    def __post_init__(self) -> None:
        cols = {}
        for name in ("N", "C", "loss"):
            try:
                arr = np.asarray(getattr(self, name), dtype=float).ravel()
            except (TypeError, ValueError):
                raise TypeError(f"Runs.{name} must be numbers, got "
                                f"{getattr(self, name)!r}") from None
            cols[name] = arr
            object.__setattr__(self, name, arr)
        sizes = {k: len(v) for k, v in cols.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"N, C and loss need one value per run, got "
                             f"lengths {sizes}")
        for name, arr in cols.items():
            bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
            if bad.size:
                rows = ", ".join(map(str, bad[:5])) + (
                    ", ..." if bad.size > 5 else "")
                raise ValueError(
                    f"{bad.size} run(s) have a non-positive or non-finite "
                    f"{name} (rows {rows}; first value {arr[bad[0]]!r}). The "
                    "law works on logarithms, so every N, C and loss must be "
                    "> 0: drop or correct those rows.")

    def __len__(self) -> int:
        return len(self.N)

    @property
    def D(self) -> np.ndarray:
        """Tokens per run, D = C / (6 N)."""
        return self.C / counting.six_n_d(self.N, 1.0)

    @property
    def flops_range(self) -> tuple[float, float]:
        """(smallest, largest) training FLOPs among the runs."""
        return float(self.C.min()), float(self.C.max())

    def subset(self, keep: Any) -> "Runs":
        """The runs selected by a boolean mask, an index array or a slice."""
        if not isinstance(keep, slice):
            keep = np.asarray(keep)
        return Runs(self.N[keep], self.C[keep], self.loss[keep])

    def drop_highest_loss(self, k: int) -> tuple["Runs", "Runs"]:
        """(kept, dropped): the runs without the k of highest loss, and those k."""
        if not (isinstance(k, (int, np.integer)) and 0 <= k < len(self)):
            raise ValueError(f"can drop 0 to {len(self) - 1} runs of "
                             f"{len(self)}, not {k!r}")
        order = np.argsort(self.loss, kind="stable")
        keep = np.sort(order[:len(self) - k])
        drop = np.sort(order[len(self) - k:])
        return self.subset(keep), self.subset(drop)

    @classmethod
    def from_tokens(cls, N: Any, D: Any, loss: Any) -> "Runs":
        """Runs given tokens D instead of FLOPs (C = 6 N D)."""
        N = np.asarray(N, float)
        return cls(N, counting.six_n_d(N, np.asarray(D, float)), loss)


_DATA = ("data", "chinchilla", "chinchilla_fig4_points.csv")


def load_chinchilla() -> Runs:
    """The 245 runs of Chinchilla's Figure 4 (Hoffmann et al. 2022), as read
    off the figure by Epoch AI (2024).  Shipped inside the package, so it
    loads the same from a clone, an editable install or a pip install;
    provenance and credit in scalebook/data/chinchilla/README.md."""
    path = resources.files("scalebook").joinpath(*_DATA)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the Chinchilla data file is missing from the installed "
            f"scalebook ({path}); reinstall scalebook, and check that "
            "pyproject.toml lists data/chinchilla/* as package data") from None
    lines = text.strip().splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    if header != ["params", "train_flops", "loss"]:
        raise ValueError(f"unexpected columns {header} in {path}")
    data = np.array([[float(x) for x in ln.split(",")] for ln in lines[1:]])
    return Runs(N=data[:, 0], C=data[:, 1], loss=data[:, 2])
