"""Scaling laws: how loss falls with parameters N and tokens D, and what a
compute budget should buy.  Chapter 13 (Scaling laws) explains every
function here.

The law is the parametric form of Hoffmann et al. (2022),

    L(N, D) = E + A / N**alpha + B / D**beta        (nats per token),

fitted to their real training runs (`load_chinchilla`) the way the Epoch
replication (Besiroglu et al. 2024) did: a Huber loss on the residuals of
log L, the law written as a log-sum-exp, L-BFGS from a grid of starting
points, and the five highest-loss runs left out.  A budget of C training
FLOPs buys N parameters trained on D tokens with C = 6 N D (the rule of
`counting.six_n_d`), so the law gives the compute-optimal split of C.

Units: N in parameters (a count), D in tokens, C in FLOPs, loss in nats
per token, time in seconds (days where the name says so).

JAX-free (numpy and scipy only) and matplotlib-free: the figures live in
`scalebook.explore.scaling`; what a budget buys on named clusters (a
model shape, days) lives in `scalebook.scaling_plan`.
"""
from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from scalebook import counting
from scalebook.scaling_runs import Runs, load_chinchilla

__all__ = [
    "Law", "HOFFMANN_2022", "BESIROGLU_2024", "PUBLISHED", "PARAM_NAMES",
    "Runs", "load_chinchilla", "FitError", "Fit", "fit", "huber",
    "objective", "law_objective", "Bootstrap", "bootstrap", "compute_optimal",
    "tokens_for", "isoflop_loss", "tokens_per_param_rule",
    "PowerLaw", "envelope_optimum", "isoflop_minima",
    "isoflop_optimum", "effective_tokens", "REPEAT_DECAY_EPOCHS",
    "LLAMA3_8B_TOKENS", "HOFFMANN_2022_EXPONENTS", "KAPLAN_2020_EXPONENT",
]

PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
"""The five parameters of the law, in the order arrays hold them."""

# ---------------------------------------------------------------------------
# The law
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Law:
    """L(N, D) = E + A / N**alpha + B / D**beta, loss in nats per token.

    E is the loss no model reaches (the entropy of text); A / N**alpha is
    what a finite model loses; B / D**beta what finite data loses.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    name: str = ""
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for k in PARAM_NAMES:
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise ValueError(f"Law.{k} must be a finite number, got {v!r}")
        for k in ("A", "B", "alpha", "beta"):
            if getattr(self, k) <= 0:
                raise ValueError(f"Law.{k} must be positive, got "
                                 f"{k}={getattr(self, k)}: a law whose loss "
                                 "does not fall with N and D has no optimum")

    def loss(self, N: Any, D: Any) -> Any:
        """Predicted loss (nats/token) of N parameters trained on D tokens."""
        N, D = _positive("N (parameters)", N), _positive("D (tokens)", D)
        out = self.E + self.A / N ** self.alpha + self.B / D ** self.beta
        return float(out) if np.ndim(out) == 0 else out

    def values(self) -> dict[str, float]:
        """{"E": .., "A": .., "B": .., "alpha": .., "beta": ..}."""
        return {k: float(getattr(self, k)) for k in PARAM_NAMES}

    def as_array(self) -> np.ndarray:
        """The parameters as an array in `PARAM_NAMES` order."""
        return np.array([getattr(self, k) for k in PARAM_NAMES], float)

    @property
    def a(self) -> float:
        """Exponent of N in the optimum, N_opt ~ C**a, a = beta/(alpha+beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D in the optimum, D_opt ~ C**b, b = alpha/(alpha+beta)."""
        return self.alpha / (self.alpha + self.beta)

    def compute_optimal(self, C: Any) -> tuple[Any, Any]:
        """(N, D) that minimise the loss for C training FLOPs, C = 6 N D."""
        return compute_optimal(self, C)

    def tokens_per_param(self, C: Any) -> Any:
        """Compute-optimal D / N (tokens per parameter) at C FLOPs."""
        N, D = compute_optimal(self, C)
        return D / N


HOFFMANN_2022 = Law(
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
    name="Hoffmann et al. 2022",
    source="Hoffmann et al., 'Training Compute-Optimal Large Language "
           "Models' (2022), parametric fit; values as listed in "
           "scalebook/data/chinchilla/README.md")
"""The original Chinchilla fit, as published (rounded) in the paper."""

BESIROGLU_2024 = Law(
    E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658,
    name="Epoch replication 2024",
    source="Besiroglu, Erdil, Barnett and You, 'Chinchilla Scaling: A "
           "replication attempt' (Epoch AI, 2024); values as listed in "
           "scalebook/data/chinchilla/README.md")
"""The Epoch replication's fit to the runs read off Chinchilla's Figure 4."""

PUBLISHED: Mapping[str, Law] = {"hoffmann2022": HOFFMANN_2022,
                                "besiroglu2024": BESIROGLU_2024}


def _positive(what: str, x: Any) -> Any:
    """x as a float or float array, refusing non-positive or non-finite values."""
    arr = np.asarray(x, dtype=float)
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        first = arr[bad].flat[0] if arr.ndim else float(arr)
        raise ValueError(f"{what} must be positive and finite, got {first!r}"
                         + (f" ({int(bad.sum())} bad values)"
                            if arr.ndim else ""))
    return float(arr) if arr.ndim == 0 else arr


def tokens_for(C: Any, N: Any) -> Any:
    """Tokens D (a count) that C FLOPs buy for N parameters: C / (6 N)."""
    C, N = _positive("C (FLOPs)", C), _positive("N (parameters)", N)
    return C / counting.six_n_d(N, 1.0)


def compute_optimal(law: Law, C: Any) -> tuple[Any, Any]:
    """(N_opt, D_opt): the split of C FLOPs (C = 6 N D) of least loss.

    Setting dL/dN = 0 along C = 6ND gives
    N_opt = G (C/6)**(beta/(alpha+beta)), D_opt = (C/6) / N_opt, with
    G = (alpha A / (beta B))**(1/(alpha+beta)).  Any C works here: a law
    knows nothing of its data.  `Fit.compute_optimal` refuses budgets
    outside the fitted runs unless asked to extrapolate.  Chapter 13
    derives it.
    """
    C = _positive("C (FLOPs)", C)
    half = C / counting.six_n_d(1.0, 1.0)            # N * D
    G = (law.alpha * law.A / (law.beta * law.B)) ** (1 / (law.alpha + law.beta))
    N = G * half ** law.a
    return N, half / N


def isoflop_loss(law: Law, C: float, N: Any) -> Any:
    """Loss (nats/token) along the iso-FLOP curve of C FLOPs: each N trained
    on the D = C / (6 N) tokens the budget leaves it."""
    return law.loss(N, tokens_for(C, N))


def tokens_per_param_rule(C: Any, ratio: float = 20.0) -> tuple[Any, Any]:
    """(N, D) with D = ratio * N and 6 N D = C: the fixed-ratio rule of thumb."""
    if not ratio > 0:
        raise ValueError(f"ratio (tokens per parameter) must be positive, "
                         f"got {ratio!r}")
    C = _positive("C (FLOPs)", C)
    N = np.sqrt(C / counting.six_n_d(1.0, ratio))
    return N, ratio * N


# ---------------------------------------------------------------------------
# Chinchilla's approaches 1 and 2, over-training, repeated data
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerLaw:
    """N_opt = coef * C**exponent (parameters, C in FLOPs), fitted to
    `points` (C, N) by least squares in log-log (Chapter 13)."""

    exponent: float
    coef: float
    points: tuple[tuple[float, float], ...]

    def __call__(self, C: Any) -> Any:
        """Parameters at budget C (FLOPs)."""
        return self.coef * np.asarray(C, dtype=float) ** self.exponent


def _power_law(C: np.ndarray, N: np.ndarray) -> PowerLaw:
    if len(C) < 2:
        raise ValueError(f"a power law needs at least 2 (C, N) points, got "
                         f"{len(C)}; widen the bands or add budgets")
    slope, icpt = np.polyfit(np.log(C), np.log(N), 1)
    return PowerLaw(float(slope), float(np.exp(icpt)),
                    tuple((float(c), float(n)) for c, n in zip(C, N)))


def envelope_optimum(runs: "Runs", bins_per_decade: int = 10) -> PowerLaw:
    """Chinchilla's approach 1 (Chapter 13): in each log-spaced band of
    training FLOPs, the run of least final loss; N_opt(C) is the power law
    through those runs (N in parameters, C in FLOPs)."""
    if not (isinstance(bins_per_decade, int) and bins_per_decade >= 1):
        raise ValueError(f"bins_per_decade must be a positive int, got "
                         f"{bins_per_decade!r}")
    band = np.floor(np.log10(runs.C) * bins_per_decade).astype(int)
    C, N = [], []
    for b in np.unique(band):
        idx = np.flatnonzero(band == b)
        i = idx[np.argmin(runs.loss[idx])]
        C.append(runs.C[i])
        N.append(runs.N[i])
    return _power_law(np.array(C), np.array(N))


def isoflop_minima(runs: "Runs", budgets: Sequence[float],
                   width: float = 0.05, min_runs: int = 5
                   ) -> list[tuple[float, float, int]]:
    """Chinchilla's approach 2 (Chapter 13): for each budget C (FLOPs), a
    parabola of final loss against log N through the runs within `width`
    decades of C; its vertex is that budget's optimal N (parameters).
    Returns (C, N_opt, runs used) for every budget with at least
    `min_runs` runs and an upward-opening parabola."""
    if not width > 0:
        raise ValueError(f"width (decades of FLOPs) must be positive, got "
                         f"{width!r}")
    out = []
    logC = np.log10(runs.C)
    for C in budgets:
        C = float(_positive("budget C (FLOPs)", C))
        m = np.abs(logC - np.log10(C)) < width
        if m.sum() < min_runs:
            continue
        x = np.log(runs.N[m])
        curv, lin, _ = np.polyfit(x, runs.loss[m], 2)
        vertex = -lin / (2 * curv)
        if curv <= 0 or not x.min() <= vertex <= x.max():
            continue                  # no minimum inside the band's runs
        out.append((C, float(np.exp(vertex)), int(m.sum())))
    return out


def isoflop_optimum(runs: "Runs", budgets: Sequence[float],
                    width: float = 0.05, min_runs: int = 5) -> PowerLaw:
    """The power law N_opt(C) through `isoflop_minima` (approach 2;
    N in parameters, C in FLOPs)."""
    pts = isoflop_minima(runs, budgets, width, min_runs)
    return _power_law(np.array([p[0] for p in pts]),
                      np.array([p[1] for p in pts]))


# Muennighoff et al. (2023): the value of a repeated token decays
# exponentially with the number of repeats, with this decay constant R*
# (epochs beyond the first): the k-th repeat is worth exp(-k / R*) of a
# fresh token.
REPEAT_DECAY_EPOCHS = 15.4

# The exponent a of N_opt ~ C^a that Hoffmann et al. (2022, their Table 2)
# report for their approaches 1 (envelope), 2 (iso-FLOP parabolas) and 3
# (the fitted law), and the one Kaplan et al. (2020) found.
HOFFMANN_2022_EXPONENTS = {1: 0.50, 2: 0.49, 3: 0.46}
KAPLAN_2020_EXPONENT = 0.73

# LLaMA-3 8B was pre-trained on over 15 T tokens (Llama 3 herd paper).
LLAMA3_8B_TOKENS = 15e12


def effective_tokens(unique: Any, epochs: Any,
                     decay: float = REPEAT_DECAY_EPOCHS) -> Any:
    """Tokens' worth of fresh data that `epochs` passes over `unique`
    tokens are worth, in the data-constrained law of Muennighoff et al.
    (Chapter 13): U + U R* (1 - exp(-R / R*)), R = epochs - 1 repeats."""
    unique = _positive("unique tokens", unique)
    epochs = np.asarray(epochs, dtype=float)
    if np.any(epochs < 1):
        raise ValueError(f"epochs counts passes over the data and must be "
                         f">= 1, got {epochs!r}")
    R = epochs - 1
    out = unique + unique * decay * (1 - np.exp(-R / decay))
    return out if out.ndim else float(out)


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------
HUBER_DELTA = 1e-3
"""Huber threshold on log-loss residuals used by the replication."""

EXCLUDE_HIGHEST = 5
"""How many of the highest-loss runs the replication left out."""

GRID = {"a": np.arange(0.0, 30.0, 5.0),       # log A
        "b": np.arange(0.0, 30.0, 5.0),       # log B
        "e": np.arange(-1.0, 1.5, 0.5),       # log E
        "alpha": np.arange(0.0, 2.5, 0.5),
        "beta": np.arange(0.0, 2.5, 0.5)}
"""Starting points for L-BFGS: every combination (6*6*5*5*5 = 4,500)."""


class FitError(RuntimeError):
    """The optimiser did not converge from any starting point."""


def huber(r: Any, delta: float = HUBER_DELTA) -> Any:
    """Huber loss of residuals r: r**2/2 within delta, linear beyond."""
    r = np.asarray(r, float)
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _theta(law: Law) -> np.ndarray:
    """Optimiser coordinates (a, b, e, alpha, beta) = (log A, log B, log E, ...)."""
    if law.E <= 0:
        raise ValueError(f"E must be positive to start a fit, got {law.E}")
    return np.array([math.log(law.A), math.log(law.B), math.log(law.E),
                     law.alpha, law.beta])


def _law(theta: Sequence[float], name: str = "") -> Law:
    a, b, e, alpha, beta = (float(t) for t in theta)
    return Law(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha,
               beta=beta, name=name)


def _lse_terms(theta: np.ndarray, logN: np.ndarray, logD: np.ndarray
               ) -> np.ndarray:
    """The three log-terms [..., 3, runs]: a - alpha logN, b - beta logD, e."""
    theta = np.asarray(theta, float)
    a, b, e, al, be = (theta[..., i, None] for i in range(5))
    return np.stack(np.broadcast_arrays(a - al * logN, b - be * logD,
                                        e + 0.0 * logN), axis=-2)


def objective(theta: np.ndarray, logN: np.ndarray, logD: np.ndarray,
              logL: np.ndarray, delta: float = HUBER_DELTA
              ) -> tuple[float, np.ndarray]:
    """Robust fitting objective and its gradient (Chapter 13).

    theta = (log A, log B, log E, alpha, beta).  log L(N, D) is the
    log-sum-exp of the three terms, which keeps every term positive and
    the arithmetic stable; the residual r = LSE - log L_observed goes
    through a Huber loss, summed over runs and divided by delta (a
    rescaling that leaves the minimum where it is but gives L-BFGS
    gradients of order one).
    """
    t = _lse_terms(theta, logN, logD)                       # [3, runs]
    m = t.max(axis=0)
    w = np.exp(t - m)
    s = w.sum(axis=0)
    r = m + np.log(s) - logL
    w /= s                                                  # softmax weights
    dh = np.clip(r, -delta, delta) / delta                  # huber'(r) / delta
    grad = np.array([(dh * w[0]).sum(), (dh * w[1]).sum(), (dh * w[2]).sum(),
                     -(dh * w[0] * logN).sum(), -(dh * w[1] * logD).sum()])
    return float(huber(r, delta).sum() / delta), grad


def law_objective(law: Law, runs: "Runs", delta: float = HUBER_DELTA
                  ) -> float:
    """The fitting objective of `law` on `runs` (see `objective`): lower
    fits better.  Compares laws on the same runs, e.g. a published one
    against a fit."""
    return objective(_theta(law), np.log(runs.N), np.log(runs.D),
                     np.log(runs.loss), delta)[0]


def _grid_values(grid: Mapping[str, np.ndarray], logN, logD, logL,
                 delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(starts [n, 5], objective at each start [n]), vectorised over starts."""
    starts = np.array(list(itertools.product(
        grid["a"], grid["b"], grid["e"], grid["alpha"], grid["beta"])), float)
    values = np.empty(len(starts))
    for lo in range(0, len(starts), 1024):                  # bounded memory
        t = _lse_terms(starts[lo:lo + 1024], logN, logD)    # [n, 3, runs]
        m = t.max(axis=-2)
        r = m + np.log(np.exp(t - m[:, None, :]).sum(axis=-2)) - logL
        values[lo:lo + 1024] = huber(r, delta).sum(axis=-1) / delta
    return starts, values


@contextlib.contextmanager
def _one_blas_thread():
    """Run the enclosed fits with OpenBLAS on one thread.

    SciPy's L-BFGS-B makes thousands of tiny BLAS calls on 5 parameters;
    with OpenBLAS threads on a shared machine each call can cost
    milliseconds (measured on the book's 2-core machine: a 50-resample
    bootstrap took 1.3 s with the default threads, 0.2 s with one).
    threadpoolctl (a dependency) sets the limit for whichever BLAS SciPy
    loaded.
    """
    from threadpoolctl import threadpool_limits

    import scipy.optimize  # noqa: F401  (load SciPy's BLAS first)

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _minimise(starts: Iterable[np.ndarray], logN, logD, logL, delta: float,
              maxiter: int) -> tuple[np.ndarray | None, float, int, str]:
    """Run L-BFGS-B from each start; (best theta, its value, converged, msg)."""
    from scipy.optimize import minimize

    best, best_f, ok, msg = None, math.inf, 0, "no starting point"
    for x0 in starts:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            res = minimize(objective, np.asarray(x0, float),
                           args=(logN, logD, logL, delta), jac=True,
                           method="L-BFGS-B", options={"maxiter": maxiter})
        msg = str(res.message)
        if not (res.success and np.all(np.isfinite(res.x))
                and math.isfinite(res.fun)):
            continue
        ok += 1
        if res.fun < best_f:
            best, best_f = res.x, float(res.fun)
    return best, best_f, ok, msg


@dataclass(frozen=True, eq=False)
class Fit:
    """A law fitted to runs, with what was left out and how it went."""

    law: Law
    runs: Runs            # the runs the law was fitted to
    excluded: Runs | None  # the runs left out (highest loss), if any
    objective: float      # Huber objective at the optimum (sum / delta)
    starts: int           # L-BFGS starting points tried
    converged: int        # how many of them converged
    delta: float = HUBER_DELTA

    def residuals(self, runs: Runs | None = None) -> np.ndarray:
        """log(predicted loss) - log(observed loss) for each run (default:
        the runs fitted); positive means the law predicts too high a loss."""
        runs = self.runs if runs is None else runs
        return np.log(self.law.loss(runs.N, runs.D)) - np.log(runs.loss)

    @property
    def flops_range(self) -> tuple[float, float]:
        """(smallest, largest) FLOPs of the fitted runs: beyond is extrapolation."""
        return self.runs.flops_range

    def check_budget(self, C: Any, extrapolate: bool = False) -> None:
        """Raise unless every budget C lies within the fitted runs' FLOPs."""
        C = np.atleast_1d(_positive("C (FLOPs)", C))
        lo, hi = self.flops_range
        out = C[(C < lo) | (C > hi)]
        if out.size and not extrapolate:
            raise ValueError(
                f"a budget of {out[0]:.3g} FLOPs is outside the runs this "
                f"law was fitted to ({lo:.3g} to {hi:.3g} FLOPs), so the "
                "answer would be an extrapolation. Pass extrapolate=True to "
                "accept that (and say so wherever the number is shown).")

    def compute_optimal(self, C: Any, extrapolate: bool = False
                        ) -> tuple[Any, Any]:
        """(N_opt, D_opt) for C FLOPs; refuses budgets beyond the data
        unless extrapolate=True."""
        self.check_budget(C, extrapolate)
        return compute_optimal(self.law, C)

    def tokens_per_param(self, C: Any, extrapolate: bool = False) -> Any:
        """Compute-optimal D / N at C FLOPs (see `compute_optimal`)."""
        N, D = self.compute_optimal(C, extrapolate)
        return D / N


def fit(runs: Runs, exclude_highest: int = EXCLUDE_HIGHEST,
        delta: float = HUBER_DELTA, n_starts: int = 8,
        grid: Mapping[str, Any] | None = None, maxiter: int = 1000,
        name: str = "our fit") -> Fit:
    """Fit L(N, D) to `runs` with the replication's robust objective.

    Leaves out the `exclude_highest` runs of highest loss (0 keeps all),
    evaluates `objective` at every point of `grid` (default `GRID`), runs
    L-BFGS-B from the `n_starts` best of them and keeps the lowest
    optimum.  Raises FitError if no start converges.
    """
    if not isinstance(runs, Runs):
        raise TypeError(f"fit expects scalebook.scaling.Runs (e.g. "
                        f"load_chinchilla()), got {type(runs).__name__}")
    if not (isinstance(n_starts, int) and n_starts >= 1):
        raise ValueError(f"n_starts must be a positive int, got {n_starts!r}")
    if not delta > 0:
        raise ValueError(f"the Huber delta must be positive, got {delta!r}")
    excluded = None
    if exclude_highest:
        runs, excluded = runs.drop_highest_loss(exclude_highest)
    if len(runs) < 6:
        raise ValueError(f"{len(runs)} runs cannot pin down 5 parameters; "
                         "fit at least 6 (and many more for a stable fit)")
    logN, logD, logL = np.log(runs.N), np.log(runs.D), np.log(runs.loss)
    grid = GRID if grid is None else {k: np.atleast_1d(np.asarray(v, float))
                                      for k, v in grid.items()}
    missing = sorted(set(GRID) - set(grid))
    if missing:
        raise ValueError(f"grid lacks {', '.join(missing)}; give values for "
                         f"each of {', '.join(GRID)}")
    starts, values = _grid_values(grid, logN, logD, logL, delta)
    order = np.argsort(np.where(np.isfinite(values), values, np.inf),
                       kind="stable")[:n_starts]
    with _one_blas_thread():
        theta, value, ok, msg = _minimise(starts[order], logN, logD, logL,
                                          delta, maxiter)
    if theta is None:
        raise FitError(
            f"L-BFGS did not converge from any of the {len(order)} starting "
            f"points (last message: {msg!r}). Try more starting points "
            f"(n_starts > {n_starts}), a larger maxiter (now {maxiter}), or "
            "check the runs for outliers.")
    return Fit(law=_law(theta, name), runs=runs, excluded=excluded,
               objective=value, starts=len(order), converged=ok, delta=delta)


# ---------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Refits on resampled runs: the spread of every parameter and of
    anything derived from the law."""

    fit: Fit                # the fit to all (kept) runs
    samples: np.ndarray     # [n, 5] parameters in PARAM_NAMES order
    objectives: np.ndarray  # [n] each refit's objective on its resample
    failed: int             # resamples whose refit did not converge
    seed: int

    def __len__(self) -> int:
        return len(self.samples)

    def laws(self) -> list[Law]:
        """One Law per successful resample."""
        return [Law(*map(float, s), name=f"bootstrap {i}")
                for i, s in enumerate(self.samples)]

    def interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Central `level` percentile interval of one parameter."""
        if name not in PARAM_NAMES:
            raise ValueError(f"unknown parameter {name!r}; known: "
                             f"{', '.join(PARAM_NAMES)}")
        return _percentiles(self.samples[:, PARAM_NAMES.index(name)], level)

    def intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """{parameter: (low, high)} central percentile intervals."""
        return {k: self.interval(k, level) for k in PARAM_NAMES}

    def derived(self, C: float, extrapolate: bool = False
                ) -> dict[str, np.ndarray]:
        """N_opt, D_opt and D/N at C FLOPs for every resample:
        {"N": [n], "D": [n], "D/N": [n]}."""
        self.fit.check_budget(C, extrapolate)
        N, D = compute_optimal(self._vector_law(), float(C))
        return {"N": N, "D": D, "D/N": D / N}

    def derived_interval(self, C: float, quantity: str = "N",
                         level: float = 0.95, extrapolate: bool = False
                         ) -> tuple[float, float]:
        """Central `level` interval of "N", "D" or "D/N" at C FLOPs."""
        d = self.derived(C, extrapolate)
        if quantity not in d:
            raise ValueError(f"unknown quantity {quantity!r}; known: "
                             f"{', '.join(d)}")
        return _percentiles(d[quantity], level)

    def _vector_law(self) -> Any:
        """A Law-like object whose fields are arrays over resamples."""
        s = self.samples
        return _VectorLaw(E=s[:, 0], A=s[:, 1], B=s[:, 2], alpha=s[:, 3],
                          beta=s[:, 4])


@dataclass(frozen=True)
class _VectorLaw:
    E: np.ndarray
    A: np.ndarray
    B: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray

    @property
    def a(self) -> np.ndarray:
        return self.beta / (self.alpha + self.beta)


def _percentiles(x: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    lo, hi = np.percentile(x, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap(runs: Runs, n: int = 100, seed: int = 0,
              exclude_highest: int = EXCLUDE_HIGHEST,
              delta: float = HUBER_DELTA, n_starts: int = 0,
              full: Fit | None = None, maxiter: int = 1000) -> Bootstrap:
    """Refit the law on `n` resamples (with replacement) of the kept runs.

    The highest-loss runs are left out once, before resampling, so every
    resample draws from the same pool the full fit used.  Each refit starts
    from the full fit's optimum (a few milliseconds) and, if n_starts > 0,
    also from the `n_starts` best grid points of its resample (a grid
    search per resample: about 100x slower), keeping the lowest optimum.
    Resamples whose refit does not converge are counted in `failed` and
    dropped.
    """
    if not (isinstance(n, int) and n >= 10):
        raise ValueError(f"n (resamples) must be an int >= 10 for a "
                         f"percentile interval to mean anything, got {n!r}")
    if full is None:
        full = fit(runs, exclude_highest=exclude_highest, delta=delta)
    pool = full.runs
    rng = np.random.default_rng(seed)
    theta0 = _theta(full.law)
    samples, objectives, failed = [], [], 0
    with _one_blas_thread():
        for _ in range(n):
            idx = rng.integers(0, len(pool), len(pool))
            logN = np.log(pool.N[idx])
            logD = np.log(pool.D[idx])
            logL = np.log(pool.loss[idx])
            starts = [theta0]
            if n_starts:
                grid_starts, values = _grid_values(GRID, logN, logD, logL,
                                                   delta)
                starts += list(grid_starts[np.argsort(values)[:n_starts]])
            theta, value, _, _ = _minimise(starts, logN, logD, logL, delta,
                                           maxiter)
            if theta is None:
                failed += 1
                continue
            samples.append(_law(theta).as_array())
            objectives.append(value)
    if len(samples) < 10:
        raise FitError(f"only {len(samples)} of {n} bootstrap refits "
                       "converged; raise maxiter or check the runs")
    return Bootstrap(fit=full, samples=np.array(samples),
                     objectives=np.array(objectives), failed=failed,
                     seed=seed)
