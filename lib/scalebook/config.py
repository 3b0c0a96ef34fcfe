"""A decoder-only transformer's architecture and its workload, without JAX.

- `Config` is the architecture only: the shape of a LLaMA-style model in
  the book's letters (see `scalebook.model` for the table).
- `Workload` is what one step processes: B sequences of T tokens each.
  It is kept apart from the architecture because the training and
  inference chapters run the same model on different workloads.
- `PRESETS` names the tiny models the notebooks run and the published
  LLaMA-3 shapes used for arithmetic only; `default_workload` gives each
  preset the workload Chapter 4 uses when none is given.

This module imports nothing but the standard library, so the formula layer
(`counting`, `parallelism`, `inference`, ...) can use it without JAX.

Units: every size is a count (tokens, sequences, layers, heads,
widths); bytes and seconds are `scalebook.counting`'s job.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

__all__ = ["Config", "Workload", "PRESETS", "DEFAULT_WORKLOADS", "preset",
           "resolve",
           "default_workload", "workload_for"]


def _check_count(cls: str, field: str, value: object,
                 meaning: str = "") -> None:
    """Refuse a size that is not a positive int, naming the field."""
    what = f" ({meaning})" if meaning else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{cls}.{field}{what} must be an int, got "
                        f"{value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{cls}.{field}{what} must be a positive int, "
                         f"got {field}={value}")


@dataclass(frozen=True)
class Config:
    """The shape of a decoder-only transformer; every size is a count.

    D need not equal N*H: the attention projections map D -> N*H and
    back, so the model works either way (LLaMA happens to use D == N*H).
    """

    D: int  # d_model
    F: int  # MLP hidden size (gated SwiGLU: 3 matrices D x F)
    L: int  # layers
    N: int  # query heads
    K: int  # KV heads (K == N: MHA, K == 1: MQA, K | N: GQA)
    H: int  # head dim
    V: int  # vocab
    tied_embeddings: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        for field in ("D", "F", "L", "N", "K", "H", "V"):
            _check_count("Config", field, getattr(self, field))
        if self.N % self.K:
            raise ValueError(
                f"N={self.N} query heads cannot be grouped into K={self.K} "
                f"KV heads: K must divide N")
        if self.H % 2:
            raise ValueError(f"head dim H={self.H} must be even: rotary "
                             f"embeddings rotate pairs of features")
        if not isinstance(self.tied_embeddings, bool):
            raise TypeError(f"Config.tied_embeddings must be True or False, "
                            f"got {self.tied_embeddings!r}")

    @property
    def G(self) -> int:
        """Query heads per KV head (the GQA group size), N // K."""
        return self.N // self.K

    def require_d_equals_nh(self) -> "Config":
        """self if D == N*H, else an error (for formulas that assume it)."""
        if self.D != self.N * self.H:
            raise ValueError(
                f"this formula assumes D == N*H, but D={self.D} and "
                f"N*H={self.N}*{self.H}={self.N * self.H}; use a config "
                f"with D == N*H or the general formula")
        return self


PRESETS: dict[str, Config] = {
    c.name: c for c in [
        Config(D=64, F=256, L=2, N=4, K=4, H=16, V=256, name="tiny"),
        Config(D=64, F=256, L=2, N=8, K=2, H=8, V=256, name="tiny-gqa"),
        Config(D=64, F=256, L=2, N=4, K=1, H=16, V=256, name="tiny-mqa"),
        # D != N*H: the projections still work (D -> N*H -> D).
        Config(D=48, F=128, L=2, N=4, K=2, H=16, V=256, name="tiny-wide"),
        Config(D=64, F=256, L=2, N=4, K=4, H=16, V=256,
               tied_embeddings=True, name="tiny-tied"),
        # Published LLaMA 3 shapes: for arithmetic only, never instantiated.
        Config(D=4096, F=14336, L=32, N=32, K=8, H=128, V=128256,
               name="llama3-8b"),
        Config(D=8192, F=28672, L=80, N=64, K=8, H=128, V=128256,
               name="llama3-70b"),
        Config(D=16384, F=53248, L=126, N=128, K=8, H=128, V=128256,
               name="llama3-405b"),
        # LLaMA-2 13B: the book's Part 5 worked problem (Chapter 6)
        Config(D=5120, F=13824, L=40, N=40, K=40, H=128, V=32000,
               name="llama2-13b"),
    ]
}


@dataclass(frozen=True)
class Workload:
    """What one step processes: B sequences of T tokens each (counts).

    One step sees `tokens` = B * T tokens.  The same `Config` runs under
    many workloads (a training batch, a prefill, a decode step), so the
    workload is given next to the config, never stored in it.
    """

    B: int  # sequences per step (batch)
    T: int  # tokens per sequence (sequence length)

    def __post_init__(self) -> None:
        _check_count("Workload", "B", self.B, "sequences per step")
        _check_count("Workload", "T", self.T, "tokens per sequence")

    @property
    def tokens(self) -> int:
        """Tokens per step (a count): B * T."""
        return self.B * self.T


DEFAULT_WORKLOADS: dict[str, Workload] = {
    **{name: Workload(B=2, T=32) for name in PRESETS
       if name.startswith("tiny")},
    **{name: Workload(B=1, T=8192) for name in PRESETS
       if name.startswith("llama")},
}
"""The workload each preset runs when none is given (B sequences of T
tokens): the tiny models a batch of 2 short sequences, quick to compile;
the LLaMA-3 shapes one sequence of 8,192 tokens, as Chapter 4 prices them."""


def preset(name: str) -> Config:
    """The named preset Config, e.g. preset("llama3-8b")."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; known: "
                         f"{', '.join(PRESETS)}") from None


def resolve(cfg: Any) -> Any:
    """The config `cfg` names: a preset name gives `preset(name)`; a
    Config (or any object with the fields D, F, L, N, K, H, V, such as an
    `MoEConfig`) is returned as it is.  Every module that accepts "a
    config or a preset name" goes through here (Chapter 4)."""
    if isinstance(cfg, str):
        return preset(cfg)
    missing = [f for f in ("D", "F", "L", "N", "K", "H", "V")
               if not hasattr(cfg, f)]
    if missing:
        raise TypeError(f"expected a scalebook.config.Config or a preset "
                        f"name, got {type(cfg).__name__} without "
                        f"{', '.join(missing)}")
    return cfg


def default_workload(cfg: "str | Config") -> Workload:
    """The preset's default `Workload` (B sequences of T tokens).

    cfg is a preset name or a preset's Config; any other Config has no
    default, and the error says to give B and T.
    """
    name = cfg if isinstance(cfg, str) else getattr(cfg, "name", "")
    if name in DEFAULT_WORKLOADS and (isinstance(cfg, str)
                                      or PRESETS.get(name) == cfg):
        return DEFAULT_WORKLOADS[name]
    if isinstance(cfg, str):
        preset(cfg)  # unknown name: say which presets exist
    what = f"config {name!r}" if name else "this config"
    raise ValueError(
        f"{what} is not a preset, so it has no default workload: give B "
        f"(sequences) and T (tokens per sequence), e.g. B=1, T=8192, or "
        f"work=Workload(B=1, T=8192)")


def workload_for(cfg: Any, B: Any = None, T: Any = None,
                 work: Workload | None = None) -> Workload:
    """The `Workload` a formula runs: `work`, or B sequences of T tokens,
    with either left out taken from the preset's `default_workload`.

    Whole numbers of any kind (8, numpy.int64(8), 8.0) are accepted for B
    and T; giving both `work` and B or T is refused."""
    if work is not None:
        if not isinstance(work, Workload):
            raise TypeError(f"work must be a scalebook.config.Workload, got "
                            f"{type(work).__name__}")
        if B is not None or T is not None:
            raise ValueError("give either B and T or work=Workload(...), "
                             "not both")
        return work
    if B is None or T is None:
        default = default_workload(cfg)
        B = default.B if B is None else B
        T = default.T if T is None else T
    return Workload(B=_whole(B), T=_whole(T))


def _whole(x: Any) -> Any:
    """x as an int if it is a whole number, else x unchanged (so that
    `Workload` refuses it with its own message)."""
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return int(x)
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x
