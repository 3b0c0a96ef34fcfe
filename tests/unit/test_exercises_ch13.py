"""Chapter 13 exercises: answers derived here independently of
scalebook.scaling pass, each known slip gets its hint, blanks and wrong
types are explained."""
import csv
import math
from importlib import resources

import numpy as np
import pytest
from scipy.optimize import minimize

import scalebook as sb
from scalebook.exercises import ch13
from scalebook.grading import BAD_TYPE, BLANK, FAIL, PASS, grade

PUB = dict(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)
HOFF = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def _rows():
    text = resources.files("scalebook").joinpath(
        "data", "chinchilla", "chinchilla_fig4_points.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return np.array([[float(r["params"]), float(r["train_flops"]),
                      float(r["loss"])] for r in rows])


def _loss(p, N, D):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def _optimum(p, C):
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (
        1 / (p["alpha"] + p["beta"]))
    N = G * (C / 6) ** (p["beta"] / (p["alpha"] + p["beta"]))
    return N, C / 6 / N


@pytest.fixture(scope="module")
def subset_fit():
    """Our own Huber fit of log L on the runs below 1e21 FLOPs, five
    highest losses dropped, started from the published replication."""
    data = _rows()
    data = data[data[:, 1] < ch13.SUBSET_MAX_C]
    data = data[np.argsort(data[:, 2])[:-5]]
    N, C, L = data.T
    D = C / (6 * N)

    def obj(x):
        p = dict(E=math.exp(x[2]), A=math.exp(x[0]), B=math.exp(x[1]),
                 alpha=x[3], beta=x[4])
        r = np.log(_loss(p, N, D)) - np.log(L)
        a = np.abs(r)
        return np.where(a < 1e-3, 0.5 * r * r, 1e-3 * (a - 5e-4)).sum() * 1e3

    x0 = [math.log(PUB["A"]), math.log(PUB["B"]), math.log(PUB["E"]),
          PUB["alpha"], PUB["beta"]]
    x = minimize(obj, x0, method="Nelder-Mead",
                 options={"maxiter": 20000, "xatol": 1e-7, "fatol": 1e-9}).x
    return dict(E=math.exp(x[2]), A=math.exp(x[0]), B=math.exp(x[1]),
                alpha=x[3], beta=x[4])


def _biggest():
    data = _rows()
    return data[np.argmax(data[:, 1])]


def test_13_1_tokens_of_the_largest_run():
    N, C, _ = _biggest()
    assert grade("13.1", C / (6 * N)).status == PASS
    assert "6 FLOPs per parameter" in grade("13.1", C / N).message
    assert "forward pass" in grade("13.1", C / (2 * N)).message


def test_13_2_alpha_of_a_subset_fit(subset_fit):
    assert grade("13.2", subset_fit["alpha"]).status == PASS
    full = sb.scaling.fit(sb.scaling.load_chinchilla())
    assert "every run" in grade("13.2", full.law.alpha).message
    assert "the exponent of D" in grade("13.2", subset_fit["beta"]).message
    assert "every run" in grade("13.2", PUB["alpha"]).message
    kept = ch13._fit(ch13.SUBSET_MAX_C, 0).law.alpha
    assert "five highest-loss" in grade("13.2", kept).message


def test_13_3_prediction_for_the_held_out_run(subset_fit):
    N, C, observed = _biggest()
    assert grade("13.3", _loss(subset_fit, N, C / (6 * N))).status == PASS
    assert "observed loss" in grade("13.3", observed).message
    assert "6×" in grade("13.3", _loss(subset_fit, N, C / N)).message
    assert "published" in grade("13.3", _loss(PUB, N, C / (6 * N))).message


def test_13_4_and_13_5_the_compute_optimal_split():
    N, D = _optimum(PUB, ch13.OPT_C)
    assert grade("13.4", N).status == PASS
    assert grade("13.5", D / N).status == PASS
    assert "D, the tokens" in grade("13.4", D).message
    a = PUB["beta"] / (PUB["alpha"] + PUB["beta"])
    assert "C/6" in grade("13.4", N * 6 ** a).message
    # multiplying the budget by 6 instead of dividing: the optimum of 36 C/6
    times_6 = _optimum(PUB, 36 * ch13.OPT_C)[0]
    assert "not multiply" in grade("13.4", times_6).message
    assert "Hoffmann" in grade("13.4", _optimum(HOFF, ch13.OPT_C)[0]).message
    assert "N/D" in grade("13.5", N / D).message
    nh, dh = _optimum(HOFF, ch13.OPT_C)
    assert "Hoffmann" in grade("13.5", dh / nh).message


def test_13_6_the_20_tokens_rule():
    C = ch13.RULE_C
    n_opt, d_opt = _optimum(PUB, C)
    n20 = math.sqrt(C / 120)
    excess = _loss(PUB, n20, 20 * n20) / _loss(PUB, n_opt, d_opt) - 1
    assert grade("13.6", {"N_ratio": n20 / n_opt,
                          "excess_loss_pct": 100 * excess}).status == PASS
    fb = grade("13.6", {"N_ratio": n_opt / n20, "excess_loss_pct": excess})
    assert fb.status == FAIL
    assert "N_opt / N_rule" in fb.message and "fraction" in fb.message
    fb = grade("13.6", {"N_ratio": C / 120 / n_opt,
                        "excess_loss_pct": 100 * excess})
    assert "square root" in fb.message
    nats = _loss(PUB, n20, 20 * n20) - _loss(PUB, n_opt, d_opt)
    fb = grade("13.6", {"N_ratio": n20 / n_opt, "excess_loss_pct": nats})
    assert "nats" in fb.message


def test_13_7_days_on_a_v5p_pod():
    v5p = sb.chip("v5p")
    chips = 16 * 20 * 28
    seconds = ch13.DAYS_C / (chips * v5p.peak_flops("bf16") * ch13.DAYS_MFU)
    days = seconds / 86400
    assert grade("13.7", days).status == PASS
    assert "peak" in grade("13.7", days * ch13.DAYS_MFU).message
    assert "multiplied by the MFU" in grade("13.7", days * ch13.DAYS_MFU ** 2).message
    assert "hours" in grade("13.7", days * 24).message
    assert "seconds" in grade("13.7", seconds).message
    assert "int8" in grade("13.7", days / 2).message


def test_13_8_mfu_from_a_log():
    r = ch13.MFU_RUN
    peak = r["chips"] * sb.chip("H100").peak_flops("bf16")
    mfu = 6 * r["N"] * r["D"] / (peak * r["days"] * 86400)
    assert 0.2 < mfu < 0.6
    assert grade("13.8", mfu).status == PASS
    assert "forward pass only" in grade("13.8", mfu / 3).message
    assert "percentage" in grade("13.8", 100 * mfu).message
    assert "bf16 peak" in grade("13.8", mfu / 2).message


@pytest.mark.parametrize("qid", [f"13.{i}" for i in range(1, 9)])
def test_blank_and_wrong_types(qid):
    assert grade(qid, ...).status == BLANK
    bad = grade(qid, "3e9")
    assert bad.status == BAD_TYPE
