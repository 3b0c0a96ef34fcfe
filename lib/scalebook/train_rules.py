"""Logical-axis rules for a training layout, in the manner of MaxText's
``logical_axis_rules`` (Chapter 5; `scalebook.train_parallel` runs them).

Units: none (mesh axis names).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from scalebook.train_layout import Layout

__all__ = ["Rule", "Rules", "logical_rules", "one_axis"]


# --------------------------------------------------------------------------
Rule = Any  # a mesh axis name, a tuple of names, or None


@dataclass(frozen=True)
class Rules:
    """Logical-axis rules for one layout, in the manner of MaxText's
    ``logical_axis_rules`` (names are those of `scalebook.model`).

    weights, optimizer, grads: where each logical weight dim is stored
    (grads: None when the gradients are left to the compiler);
    activations: the same for activation names; batch_axes: the mesh axes
    that split the batch (a weight is used whole along them).
    """

    weights: Mapping[str, Rule]
    optimizer: Mapping[str, Rule]
    grads: Mapping[str, Rule] | None
    activations: Mapping[str, Rule]
    batch_axes: tuple[str, ...]

    def used(self) -> dict[str, Rule]:
        """Where each weight dim lives while a layer uses it: as stored,
        minus the axes that split the batch (FSDP gathers them)."""
        return {k: _drop_axes(v, self.batch_axes)
                for k, v in self.weights.items()}

    def table(self) -> list[tuple[str, str, str]]:
        """(logical name, stored on, used on) rows, for printing."""
        used = self.used()
        names = [n for n in sorted(set(self.weights) | set(self.activations))
                 if self.weights.get(n) or self.activations.get(n)]
        return [(n, str(self.weights.get(n, self.activations.get(n))),
                 str(used[n] if n in self.weights else
                     self.activations.get(n))) for n in names]


def one_axis(axes: tuple[str, ...]) -> Rule:
    """One rule for `axes`: None, a single name, or the tuple."""
    return None if not axes else axes[0] if len(axes) == 1 else axes


def _drop_axes(rule: Rule, axes: tuple[str, ...]) -> Rule:
    """`rule` without the mesh axes in `axes`."""
    if rule is None:
        return None
    kept = tuple(a for a in ((rule,) if isinstance(rule, str) else rule)
                 if a not in axes)
    return one_axis(kept)


def logical_rules(lay: Layout) -> Rules:
    """The logical-axis rules that express `lay`:

    =============  =================================================
    DP             batch -> data
    ZeRO-1         + the optimizer state's embed -> data
    ZeRO-2         + the gradients' embed -> data
    FSDP (ZeRO-3)  + the weights' embed -> data
    TP             heads, kv heads, mlp, vocab (weights and
                   activations) -> tensor
    SP             seq -> seq, and every embed -> (data, seq)
    =============  =================================================

    Pipeline layouts are refused: a pipeline needs a schedule, which
    rules cannot express (see `scalebook.pipeline`); so are expert axes
    (`scalebook.moe` runs expert parallelism).
    """
    if lay.pipeline > 1:
        raise ValueError("a pipeline cannot be written as sharding rules: "
                         "it needs a schedule. Use scalebook.pipeline for "
                         "pipeline > 1")
    if lay.expert > 1:
        raise ValueError("an expert axis cannot be written as these rules: "
                         "the dense training step has no experts. Use "
                         "scalebook.moe for expert parallelism (Chapter 14)")
    batch = tuple(a for a in ("data",) if lay.data > 1)
    tp = "tensor" if lay.tensor > 1 else None
    heads = {"q_heads": tp, "kv_heads": tp, "mlp": tp, "vocab": tp}
    weights = dict(heads)
    if lay.zero >= 3:
        weights["embed"] = one_axis(lay.zero_axes)
    optimizer = dict(heads)
    if lay.zero >= 1:
        optimizer["embed"] = one_axis(lay.zero_axes)
    grads = dict(optimizer) if lay.zero >= 2 else None
    acts = {"batch": one_axis(batch),
            "seq": "seq" if lay.seq > 1 else None,
            "act_heads": tp, "act_kv_heads": tp, "act_mlp": tp,
            "act_vocab": tp}
    return Rules(weights, optimizer, grads, acts, lay.zero_axes)
