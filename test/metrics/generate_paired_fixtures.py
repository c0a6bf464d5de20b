"""Generate the fixtures of the keep rule's analytic tests (DeLong's test and the paired z-test).

Run from the repository root:

    .venv/bin/python test/metrics/generate_paired_fixtures.py

Writes test/metrics/fixtures/paired.json:
- "delong": cases of labels y and two score vectors (some with heavy ties). Expected values are
  sklearn.metrics.roc_auc_score of each score vector, and DeLong's covariance from an independent
  O(m*n) numpy implementation of the 1988 formulas (DeLong, DeLong & Clarke-Pearson, Biometrics
  44:837): placement values psi(X_i, Y_j) in {0, 1/2, 1}, V10 = row means, V01 = column means,
  S10 / S01 the sample covariances (ddof = 1), S = S10/m + S01/n, var = S_AA + S_BB - 2 S_AB,
  z = (auc_B - auc_A) / sqrt(var), p_better = scipy-free Phi(z) via math.erfc.
- "pairedz": binary log_loss / brier / accuracy and regression rmse / mae cases: the metric of each
  model from scikit-learn, the per-row terms from numpy, and mean(d), sd(d)/sqrt(n) and z from numpy.
Seeded: running it twice gives identical files.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

OUT = Path(__file__).parent / "fixtures" / "paired.json"


def phi(z: float) -> float:
    """Standard normal CDF."""
    if math.isinf(z):
        return 1.0 if z > 0 else 0.0
    return 0.5 * math.erfc(-z / math.sqrt(2))


def delong_reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """DeLong et al. 1988 with the full m x n placement matrix (independent of the midrank algorithm)."""
    out = {}
    v10s = []
    v01s = []
    for s in (a, b):
        x = s[y == 1][:, None]
        yy = s[y == 0][None, :]
        psi = (x > yy).astype(float) + 0.5 * (x == yy)
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m = int((y == 1).sum())
    n = int((y == 0).sum())
    s10 = np.cov(np.vstack(v10s), ddof=1)
    s01 = np.cov(np.vstack(v01s), ddof=1)
    s = s10 / m + s01 / n
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    auc_a = float(roc_auc_score(y, a))
    auc_b = float(roc_auc_score(y, b))
    delta = auc_b - auc_a
    z = delta / math.sqrt(var)
    out.update(
        auc_a=auc_a,
        auc_b=auc_b,
        delta=delta,
        s10=[float(s10[0, 0]), float(s10[0, 1]), float(s10[1, 1])],
        s01=[float(s01[0, 0]), float(s01[0, 1]), float(s01[1, 1])],
        variance=var,
        z=z,
        p_better=phi(z),
    )
    return out


def delong_cases(rng: np.random.Generator) -> list[dict]:
    cases = []
    for name, n, prev, ties in [
        ("continuous", 300, 0.3, None),
        ("ties", 250, 0.4, 8),
        ("heavy-ties", 120, 0.5, 3),
        ("imbalanced", 400, 0.05, None),
        ("tiny", 7, 0.4, 2),
    ]:
        y = (rng.random(n) < prev).astype(np.uint8)
        y[:2] = 1
        y[2:4] = 0
        base = rng.normal(size=n)
        a = base + 1.0 * y + rng.normal(scale=1.0, size=n)
        b = base + 1.3 * y + rng.normal(scale=1.0, size=n)
        if ties is not None:
            a = np.round(a * ties / 4) / (ties / 4)
            b = np.round(b * ties / 4) / (ties / 4)
        a = 1 / (1 + np.exp(-a))
        b = 1 / (1 + np.exp(-b))
        c = {"name": name, "y": y.tolist(), "a": a.tolist(), "b": b.tolist()}
        c.update(delong_reference(y, a, b))
        cases.append(c)
    return cases


def pairedz(ta: np.ndarray, tb: np.ndarray, maximize: bool) -> dict:
    d = tb - ta
    n = len(d)
    md = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n))
    z = (md if maximize else -md) / se
    return {"mean_d": md, "se_d": se, "z": z, "p_better": phi(z)}


def pairedz_cases(rng: np.random.Generator) -> list[dict]:
    eps = np.finfo(np.float64).eps
    cases = []
    n = 500
    y = (rng.random(n) < 0.35).astype(np.uint8)
    logit = rng.normal(size=n)
    pa = 1 / (1 + np.exp(-(logit + 1.2 * (y - 0.5))))
    pb = 1 / (1 + np.exp(-(logit + 1.6 * (y - 0.5) + rng.normal(scale=0.3, size=n))))
    pa[3] = 0.0
    pb[4] = 1.0
    for metric in ("log_loss", "brier", "accuracy"):
        if metric == "log_loss":
            f = lambda p: -np.log(np.clip(np.where(y == 1, p, 1 - p), eps, 1 - eps))  # noqa: E731
            va, vb = log_loss(y, pa, labels=[0, 1]), log_loss(y, pb, labels=[0, 1])
        elif metric == "brier":
            f = lambda p: (y - p) ** 2  # noqa: E731
            va, vb = brier_score_loss(y, pa), brier_score_loss(y, pb)
        else:
            f = lambda p: ((p >= 0.5).astype(float) == y).astype(float)  # noqa: E731
            va, vb = accuracy_score(y, pa >= 0.5), accuracy_score(y, pb >= 0.5)
        c = {"name": f"binary-{metric}", "task": "binary", "metric": metric, "y": y.tolist(),
             "a": pa.tolist(), "b": pb.tolist(), "value_a": float(va), "value_b": float(vb)}
        c.update(pairedz(f(pa), f(pb), metric == "accuracy"))
        cases.append(c)
    yr = rng.normal(size=n) * 3 + 10
    ra = yr + rng.normal(scale=1.0, size=n)
    rb = yr + rng.normal(scale=0.9, size=n)
    for metric in ("rmse", "mae"):
        if metric == "rmse":
            ta, tb = (yr - ra) ** 2, (yr - rb) ** 2
            va, vb = root_mean_squared_error(yr, ra), root_mean_squared_error(yr, rb)
            # delta method: influences u_i = tb_i / (2 rmse_b) - ta_i / (2 rmse_a)
            u = tb / (2 * vb) - ta / (2 * va)
            se_metric = float(u.std(ddof=1) / math.sqrt(n))
        else:
            ta, tb = np.abs(yr - ra), np.abs(yr - rb)
            va, vb = mean_absolute_error(yr, ra), mean_absolute_error(yr, rb)
            se_metric = float((tb - ta).std(ddof=1) / math.sqrt(n))
        c = {"name": f"regression-{metric}", "task": "regression", "metric": metric, "y": yr.tolist(),
             "a": ra.tolist(), "b": rb.tolist(), "value_a": float(va), "value_b": float(vb),
             "se_metric": se_metric}
        c.update(pairedz(ta, tb, False))
        cases.append(c)
    return cases


def main() -> None:
    rng = np.random.default_rng(20261205)
    doc = {
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "delong": delong_cases(rng),
        "pairedz": pairedz_cases(rng),
    }
    OUT.write_text(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    root = Path(__file__).resolve().parents[2]
    biome = root / "node_modules" / ".bin" / "biome"
    if biome.exists():
        subprocess.run([str(biome), "format", "--write", str(OUT)], cwd=root, check=True, capture_output=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
