"""The architecture of a decoder-only transformer, described without JAX.

`Config` holds the shape of a LLaMA-style model in the book's letters (see
`scalebook.model` for the table); `PRESETS` names the tiny models the
notebooks run and the published LLaMA-3 shapes used for arithmetic only.
This module imports nothing but the standard library, so the formula layer
(`counting`, `parallelism`, `inference`, ...) can use it without JAX.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Config", "PRESETS", "preset"]


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
    T: int = 128  # sequence length (tokens per sequence)
    B: int = 1  # batch (sequences)
    tied_embeddings: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        for field in ("D", "F", "L", "N", "K", "H", "V", "T", "B"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Config.{field} must be an int, got "
                                f"{value!r} ({type(value).__name__})")
            if value <= 0:
                raise ValueError(f"Config.{field} must be a positive int, "
                                 f"got {field}={value}")
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
        Config(D=64, F=256, L=2, N=4, K=4, H=16, V=256, T=32, B=2,
               name="tiny"),
        Config(D=64, F=256, L=2, N=8, K=2, H=8, V=256, T=32, B=2,
               name="tiny-gqa"),
        Config(D=64, F=256, L=2, N=4, K=1, H=16, V=256, T=32, B=2,
               name="tiny-mqa"),
        # D != N*H: the projections still work (D -> N*H -> D).
        Config(D=48, F=128, L=2, N=4, K=2, H=16, V=256, T=32, B=2,
               name="tiny-wide"),
        Config(D=64, F=256, L=2, N=4, K=4, H=16, V=256, T=32, B=2,
               tied_embeddings=True, name="tiny-tied"),
        # Published LLaMA 3 shapes: for arithmetic only, never instantiated.
        Config(D=4096, F=14336, L=32, N=32, K=8, H=128, V=128256,
               T=8192, name="llama3-8b"),
        Config(D=8192, F=28672, L=80, N=64, K=8, H=128, V=128256,
               T=8192, name="llama3-70b"),
        Config(D=16384, F=53248, L=126, N=128, K=8, H=128, V=128256,
               T=8192, name="llama3-405b"),
    ]
}


def preset(name: str) -> Config:
    """The named preset Config, e.g. preset("llama3-8b")."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; known: "
                         f"{', '.join(PRESETS)}") from None
