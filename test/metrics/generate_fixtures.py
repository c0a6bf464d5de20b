"""Generate the metric-engine fixtures from scikit-learn (and a numpy reference for ECE).

Run from the repository root:

    .venv/bin/python test/metrics/generate_fixtures.py

Writes test/metrics/fixtures/{binary,multiclass,regression}.json. Every case holds the inputs and,
for every metric of its task, the value scikit-learn computes (`expected`), or null together with
the error scikit-learn raised / the reason the metric is undefined (`undefined`). Seeded: running it
twice gives identical files.

Weights come in two kinds:
- "sample_weight": positive real weights, passed to scikit-learn as `sample_weight`;
- "multiplicity": non-negative integers (zeros included), and the expected value is scikit-learn on
  the rows repeated by their weights (`np.repeat`), the semantics the bootstrap relies on.

Floats are written with Python's repr, which round-trips float64 exactly; the files are then
formatted with the repository's biome so that `npx biome check test/metrics` passes.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

OUT = Path(__file__).resolve().parent / "fixtures"
SEED = 20240611

BINARY = ["auroc", "average_precision", "log_loss", "brier", "accuracy", "f1", "precision", "recall", "ece"]
MULTICLASS = ["accuracy", "f1_macro", "f1_micro", "f1_weighted", "log_loss", "auroc_ovr"]
REGRESSION = ["rmse", "mae", "r2", "mape"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- ECE (numpy reference)


def ece_reference(y: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> float:
    """Expected calibration error, 10 equal-width bins (Naeini et al. 2015; Guo et al. 2017).

    Bin b covers [b/10, (b+1)/10) with the edges taken as the doubles b/10; the last bin includes
    1.0. ECE = sum_b (W_b / W) * |mean_w(p in b) - mean_w(y in b)| with W_b the bin's weight.
    """
    w = np.ones_like(p) if w is None else np.asarray(w, dtype=np.float64)
    edges = np.arange(1, 10) / 10.0
    bins = np.searchsorted(edges, p, side="right")  # number of inner edges <= p
    total = np.sum(w)
    ece = 0.0
    for b in range(10):
        m = bins == b
        wb = np.sum(w[m])
        if wb > 0:
            ece += (wb / total) * abs(np.sum(w[m] * p[m]) / wb - np.sum(w[m] * y[m]) / wb)
    return float(ece)


# ---------------------------------------------------------------- expected values


def call(fn, *args, **kwargs):
    """Run a scikit-learn metric; return (value, None) or (None, reason) for NaN or an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            v = float(fn(*args, **kwargs))
        except ValueError as e:
            return None, f"ValueError: {e}"
    if np.isnan(v):
        return None, "scikit-learn returned NaN (undefined)"
    return v, None


def auroc_exact(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mann-Whitney AUROC with integer arithmetic, correctly rounded (Python int / int)."""
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    if len(pos) == 0 or len(neg) == 0:
        return None
    less = np.searchsorted(neg, pos, side="left")
    leq = np.searchsorted(neg, pos, side="right")
    twice_u = int(np.sum(2 * less.astype(np.int64) + (leq - less)))
    return twice_u / (2 * len(pos) * len(neg))


def binary_expected(y, p, w):
    pred = (p >= 0.5).astype(np.int64)
    sw = {} if w is None else {"sample_weight": w}
    fns = {
        "auroc": lambda: call(roc_auc_score, y, p, **sw),
        "average_precision": lambda: call(average_precision_score, y, p, **sw),
        "log_loss": lambda: call(log_loss, y, p, labels=[0, 1], **sw),
        "brier": lambda: call(brier_score_loss, y, p, labels=[0, 1], **sw),
        "accuracy": lambda: call(accuracy_score, y, pred, **sw),
        "f1": lambda: call(f1_score, y, pred, **sw),
        "precision": lambda: call(precision_score, y, pred, **sw),
        "recall": lambda: call(recall_score, y, pred, **sw),
        "ece": lambda: (ece_reference(y, p, w), None),
    }
    return {m: fns[m]() for m in BINARY}


def multiclass_expected(y, k, pred, proba, w):
    sw = {} if w is None else {"sample_weight": w}
    needs = "needs predicted probabilities, but the case holds labels only"
    fns = {
        "accuracy": lambda: call(accuracy_score, y, pred, **sw),
        "f1_macro": lambda: call(f1_score, y, pred, average="macro", **sw),
        "f1_micro": lambda: call(f1_score, y, pred, average="micro", **sw),
        "f1_weighted": lambda: call(f1_score, y, pred, average="weighted", **sw),
        "log_loss": lambda: (None, needs) if proba is None else call(log_loss, y, proba, labels=list(range(k)), **sw),
        "auroc_ovr": lambda: (None, needs)
        if proba is None
        else call(roc_auc_score, y, proba, multi_class="ovr", average="macro", **sw),
    }
    return {m: fns[m]() for m in MULTICLASS}


def regression_expected(y, p, w):
    sw = {} if w is None else {"sample_weight": w}
    fns = {
        "rmse": lambda: call(root_mean_squared_error, y, p, **sw),
        "mae": lambda: call(mean_absolute_error, y, p, **sw),
        "r2": lambda: call(r2_score, y, p, **sw),
        "mape": lambda: call(mean_absolute_percentage_error, y, p, **sw),
    }
    return {m: fns[m]() for m in REGRESSION}


def finish(case: dict, results: dict) -> dict:
    case["expected"] = {m: v for m, (v, _) in results.items()}
    case["undefined"] = {m: why for m, (v, why) in results.items() if v is None}
    return case


# ---------------------------------------------------------------- binary cases


def binary_cases(rng: np.random.Generator) -> list[dict]:
    cases = []

    def add(name, y, p, w=None, kind=None, extra=None):
        y = np.asarray(y, dtype=np.int64)
        p = np.asarray(p, dtype=np.float64)
        if w is None:
            results = binary_expected(y, p, None)
            case = {"name": name, "y": y.tolist(), "p": p.tolist(), "weights": None, "weights_kind": None}
            case["auroc_exact"] = auroc_exact(y, p)
        else:
            w = np.asarray(w, dtype=np.float64)
            if kind == "sample_weight":
                results = binary_expected(y, p, w)
                exact = None
            else:
                reps = w.astype(np.int64)
                results = binary_expected(np.repeat(y, reps), np.repeat(p, reps), None)
                exact = auroc_exact(np.repeat(y, reps), np.repeat(p, reps))
            case = {"name": name, "y": y.tolist(), "p": p.tolist(), "weights": w.tolist(), "weights_kind": kind}
            case["auroc_exact"] = exact
        if extra:
            case.update(extra)
        cases.append(finish(case, results))

    x = rng.normal(size=300)
    y = (rng.random(300) < sigmoid(1.5 * x)).astype(np.int64)
    p = sigmoid(1.2 * x + rng.normal(scale=0.8, size=300))
    add("random", y, p)
    add("ties", y, np.round(p, 1))
    pe = p.copy()
    idx = rng.choice(300, size=90, replace=False)
    pe[idx[:30]] = 0.0
    pe[idx[30:60]] = 1.0
    pe[idx[60:75]] = 1e-300
    pe[idx[75:]] = 1 - 2**-53  # the largest double below 1: above 1 - eps, so clipped
    add("extremes_0_1", y, pe)
    x2 = rng.normal(size=400)
    y2 = (rng.random(400) < sigmoid(2.0 * x2 - 4.0)).astype(np.int64)
    add("imbalanced", y2, sigmoid(1.5 * x2 - 3.5 + rng.normal(scale=0.5, size=400)))
    yc = (rng.random(120) < 0.4).astype(np.int64)
    add("constant_low", yc, np.full(120, 0.3))
    add("constant_high", yc, np.full(120, 0.7))
    add("one_class_negative", np.zeros(50), rng.random(50))
    add("one_class_positive", np.ones(50), rng.random(50))
    yp = np.array([0] * 40 + [1] * 40)
    add("perfect", yp, np.concatenate([rng.random(40) * 0.4, 0.6 + rng.random(40) * 0.4]))
    add("inverted", yp, np.concatenate([0.6 + rng.random(40) * 0.4, rng.random(40) * 0.4]))
    edges = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    below = np.nextafter(edges[1:], 0.0)
    above = np.nextafter(edges[:-1], 1.0)
    pb = np.concatenate([edges, below, above, [3 / 10, 0.1 * 3, 0.49999999999999994, 0.5000000000000001]])
    yb = (rng.random(len(pb)) < pb).astype(np.int64)
    yb[:2] = [0, 1]
    add("bin_edges_and_threshold", yb, pb)
    add("tiny", [0, 1, 1], [0.2, 0.2, 0.9])
    add("sample_weight", y, p, rng.uniform(0.2, 3.0, size=300), "sample_weight")
    add("sample_weight_ties", y, np.round(p, 1), rng.uniform(0.2, 3.0, size=300), "sample_weight")
    add("multiplicity", y, np.round(p, 2), rng.integers(0, 4, size=300).astype(np.float64), "multiplicity")
    return cases


# ---------------------------------------------------------------- multiclass cases


def multiclass_cases(rng: np.random.Generator) -> list[dict]:
    cases = []

    def add(name, y, k, pred, proba, w=None, kind=None):
        y = np.asarray(y, dtype=np.int64)
        pred = np.asarray(pred, dtype=np.int64)
        proba = None if proba is None else np.asarray(proba, dtype=np.float64)
        if w is None:
            results = multiclass_expected(y, k, pred, proba, None)
        else:
            w = np.asarray(w, dtype=np.float64)
            if kind == "sample_weight":
                results = multiclass_expected(y, k, pred, proba, w)
            else:
                reps = w.astype(np.int64)
                results = multiclass_expected(
                    np.repeat(y, reps),
                    k,
                    np.repeat(pred, reps),
                    None if proba is None else np.repeat(proba, reps, axis=0),
                    None,
                )
        case = {
            "name": name,
            "k": k,
            "y": y.tolist(),
            "pred": pred.tolist(),
            "proba": None if proba is None else proba.ravel().tolist(),
            "weights": None if w is None else w.tolist(),
            "weights_kind": kind,
        }
        cases.append(finish(case, results))

    def model(n, k, sharp=1.5):
        z = rng.normal(size=(n, k))
        y = np.array([rng.choice(k, p=row) for row in softmax(sharp * z)])
        proba = softmax(sharp * z + rng.normal(scale=1.0, size=(n, k)))
        return y, proba, proba.argmax(axis=1)

    y, proba, pred = model(300, 3)
    add("random_k3", y, 3, pred, proba)
    y5, proba5, pred5 = model(400, 5, sharp=2.0)
    add("random_k5", y5, 5, pred5, proba5)
    levels = np.array([[0.2, 0.3, 0.5], [0.5, 0.3, 0.2], [0.25, 0.5, 0.25], [0.6, 0.2, 0.2], [0.2, 0.6, 0.2]])
    pick = rng.integers(0, len(levels), size=250)
    pt = levels[pick]
    yt = np.array([rng.choice(3, p=row) for row in pt])
    add("ties", yt, 3, pt.argmax(axis=1), pt)
    px = proba.copy()
    onehot = np.eye(3)[rng.integers(0, 3, size=300)]
    rows = rng.choice(300, size=100, replace=False)
    px[rows] = onehot[rows]
    add("extremes_0_1", y, 3, px.argmax(axis=1), px)
    add("unnormalized_rows", y, 3, pred, proba * 0.8)
    add("labels_only", y, 3, pred, None)
    ym = y.copy()
    ym[ym == 2] = 1  # class 2 of k = 3 never occurs in y, but is predicted
    add("class_missing_in_y", ym, 3, pred, proba)
    y4 = y.copy()
    proba4 = np.concatenate([proba * 0.98, np.full((300, 1), 0.02)], axis=1)  # class 3 never in y nor pred
    add("class_absent_everywhere_k4", y4, 4, proba4.argmax(axis=1), proba4)
    yi, probai, predi = model(400, 3)
    order = np.argsort(-probai[:, 0])
    yi = yi.copy()
    yi[order[:360]] = np.where(rng.random(360) < 0.95, 0, yi[order[:360]])
    add("imbalanced", yi, 3, predi, probai)
    add("constant_prediction", y, 3, np.zeros(300, dtype=np.int64), np.tile([0.5, 0.3, 0.2], (300, 1)))
    add("sample_weight", y, 3, pred, proba, rng.uniform(0.2, 3.0, size=300), "sample_weight")
    add("multiplicity", y5, 5, pred5, proba5, rng.integers(0, 4, size=400).astype(np.float64), "multiplicity")
    return cases


# ---------------------------------------------------------------- regression cases


def regression_cases(rng: np.random.Generator) -> list[dict]:
    cases = []

    def add(name, y, p, w=None, kind=None):
        y = np.asarray(y, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        if w is None:
            results = regression_expected(y, p, None)
        else:
            w = np.asarray(w, dtype=np.float64)
            if kind == "sample_weight":
                results = regression_expected(y, p, w)
            else:
                reps = w.astype(np.int64)
                results = regression_expected(np.repeat(y, reps), np.repeat(p, reps), None)
        case = {
            "name": name,
            "y": y.tolist(),
            "p": p.tolist(),
            "weights": None if w is None else w.tolist(),
            "weights_kind": kind,
        }
        cases.append(finish(case, results))

    y = rng.normal(10.0, 3.0, size=300)
    p = y + rng.normal(0.0, 1.0, size=300)
    add("random", y, p)
    add("bad_negative_r2", y, rng.normal(10.0, 6.0, size=300))
    yz = y.copy()
    yz[rng.choice(300, size=20, replace=False)] = 0.0
    add("zeros_in_y", yz, p)
    add("tiny_y", y * 1e-17, p * 1e-17)
    add("constant_y", np.full(100, 2.5), rng.normal(2.5, 1.0, size=100))
    add("constant_y_perfect", np.full(100, 2.5), np.full(100, 2.5))
    add("perfect", y, y)
    yl = rng.normal(1e6, 1e3, size=250)
    add("large_magnitude", yl, yl + rng.normal(0, 50.0, size=250))
    add("integers", rng.integers(-5, 6, size=200), rng.integers(-5, 6, size=200))
    add("single_row", [3.0], [2.0])
    add("sample_weight", y, p, rng.uniform(0.2, 3.0, size=300), "sample_weight")
    add("multiplicity", yz, p, rng.integers(0, 4, size=300).astype(np.float64), "multiplicity")
    return cases


def write(task: str, cases: list[dict]) -> None:
    doc = {
        "generator": "test/metrics/generate_fixtures.py",
        "seed": SEED,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "task": task,
        "cases": cases,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{task}.json"
    path.write_text(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(cases)} cases)")


def format_with_biome() -> None:
    """Format the fixtures with the repository's biome (as `npx biome check` expects them)."""
    root = OUT.parents[2]
    biome = root / "node_modules" / ".bin" / "biome"
    if not biome.exists():
        print("note: node_modules/.bin/biome not found; fixtures left unformatted")
        return
    files = [str(OUT / f"{t}.json") for t in ("binary", "multiclass", "regression")]
    subprocess.run([str(biome), "format", "--write", *files], cwd=root, check=True, capture_output=True)


def main() -> None:
    rng = np.random.default_rng(SEED)
    write("binary", binary_cases(rng))
    write("multiclass", multiclass_cases(rng))
    write("regression", regression_cases(rng))
    format_with_biome()


if __name__ == "__main__":
    main()
