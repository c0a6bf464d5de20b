"""Generate the metric-engine fixtures from scikit-learn, fairlearn and cited reference code.

Run from the repository root:

    .venv/bin/python test/metrics/generate_fixtures.py

Writes test/metrics/fixtures/{binary,multiclass,regression}.json. Every case holds the inputs and,
for every metric of its task, the value scikit-learn computes (`expected`), or null together with
the error scikit-learn raised / the reason the metric is undefined (`undefined`). Seeded: running it
twice gives identical files.

It also writes
- ranking.json: ndcg / ndcg@k from sklearn.metrics.ndcg_score (per query, averaged over queries),
  mrr from a reference of ranx's `_reciprocal_rank`, map / map@k from a reference of ml_metrics'
  `apk`, both on the documented pessimistic tie order (see `ranked_rows`);
- fairness.json: fairlearn's demographic_parity_difference, equal_opportunity_difference and
  equalized_odds_difference (method="between_groups"), and fairlearn MetricFrame.by_group values of
  every binary metric;
- proxies.json: the business proxies (cost matrix, column mean, top-fraction mean) from numpy
  references.
Each of these draws from its own seeded generator, so the first three files do not change when
they are added to.

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
    ndcg_score,
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


def average_precision_policy(y_true, y_score, sample_weight=None):
    """average_precision_score under the engine's single-class policy (docs/glossary.md, "single-class
    policy"): without a positive row (of non-zero weight) AP is undefined, so this raises ValueError
    where scikit-learn 1.9.1 returns 0.0 with the warning "No positive class found in y_true"."""
    y_true = np.asarray(y_true)
    w = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if not np.any((y_true == 1) & (w > 0)):
        raise ValueError("undefined: y holds no positive row (scikit-learn 1.9.1 returns 0.0 with a warning)")
    return average_precision_score(y_true, y_score, sample_weight=sample_weight)



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
    pred = (p > 0.5).astype(np.int64)
    sw = {} if w is None else {"sample_weight": w}
    fns = {
        "auroc": lambda: call(roc_auc_score, y, p, **sw),
        "average_precision": lambda: call(average_precision_policy, y, p, **sw),
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
    # Rows at exactly p = 0.5 (negative under scikit-learn's rule p > 0.5). Their own generator keeps
    # the shared stream, hence the multiclass and regression fixtures, as they were.
    r2 = np.random.default_rng([SEED, 4])
    ph = np.where(r2.random(200) < 0.4, 0.5, np.round(r2.random(200), 1))
    yh = (r2.random(200) < ph).astype(np.int64)
    add("threshold_exactly_half", yh, ph)
    add("threshold_exactly_half_weighted", yh, ph, r2.uniform(0.2, 3.0, size=200), "sample_weight")
    add("all_exactly_half", [0, 1, 1, 0, 1], [0.5, 0.5, 0.5, 0.5, 0.5])
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


# ---------------------------------------------------------------- ranking cases

RANKING = ["ndcg", "ndcg@1", "ndcg@3", "ndcg@5", "ndcg@10", "mrr", "map", "map@1", "map@3", "map@5", "map@10"]


def parse_ranking(name: str) -> tuple[str, int | None]:
    family, _, k = name.partition("@")
    return family, (int(k) if k else None)


def ranked_rows(rel: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The engine's documented order for mrr and map: descending score, and among equal scores the
    irrelevant items (rel == 0) before the relevant ones (pessimistic tie-breaking). np.lexsort sorts
    by its last key first."""
    return np.lexsort(((rel > 0).astype(np.int64), -score))


def ndcg_query(rel: np.ndarray, score: np.ndarray, k: int | None) -> float:
    """sklearn.metrics.ndcg_score on one query. A one-item query (which ndcg_score refuses) is padded
    with an irrelevant item scored below it, which changes neither the DCG nor the ideal DCG."""
    if len(rel) == 1:
        rel = np.array([rel[0], 0.0])
        score = np.array([score[0], score[0] - 1.0])
    return float(ndcg_score([rel], [score], k=k))


def reciprocal_rank_reference(relevant: set, ranked: list) -> float:
    """Reciprocal rank as ranx's `_reciprocal_rank` (AmenRa/ranx, ranx/metrics/reciprocal_rank.py):
    0.0 when the query has no relevant document, else 1 / (i + 1) for the first relevant document at
    0-based rank i (k = 0: the whole ranking)."""
    if len(relevant) == 0:
        return 0.0
    for i, doc in enumerate(ranked):
        if doc in relevant:
            return 1 / (i + 1)
    return 0.0


def apk_reference(actual: set, predicted: list, k: int) -> float:
    """Average precision at k as `apk` of ml_metrics (benhamner/Metrics,
    Python/ml_metrics/average_precision.py, revision a28d7ad): over the first k predictions, add
    hits / (i + 1) at every 0-based rank i holding a not-yet-seen relevant item, and divide by
    min(len(actual), k); 0.0 when `actual` is empty (that revision's convention)."""
    if not actual:
        return 0.0
    top = predicted[:k]
    hits = 0.0
    score = 0.0
    for i, item in enumerate(top):
        if item in actual and item not in top[:i]:
            hits += 1.0
            score += hits / (i + 1.0)
    return score / min(len(actual), k)


def ranking_per_query(name: str, y: np.ndarray, p: np.ndarray, query: np.ndarray) -> np.ndarray:
    family, k = parse_ranking(name)
    q = int(query.max()) + 1
    out = np.empty(q)
    for j in range(q):
        rows = np.flatnonzero(query == j)
        rel, score = y[rows], p[rows]
        if family == "ndcg":
            out[j] = ndcg_query(rel, score, k)
            continue
        ranked = [int(r) for r in rows[ranked_rows(rel, score)]]
        relevant = {int(r) for r in rows[rel > 0]}
        if family == "mrr":
            out[j] = reciprocal_rank_reference(relevant, ranked)
        else:
            out[j] = apk_reference(relevant, ranked, len(ranked) if k is None else k)
    return out


def ranking_cases(rng: np.random.Generator) -> list[dict]:
    cases = []

    def add(name, y, p, query, w=None, kind=None, matrix=False):
        y = np.asarray(y, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        query = np.asarray(query, dtype=np.int64)
        expected = {}
        for m in RANKING:
            v = ranking_per_query(m, y, p, query)
            if w is None:
                expected[m] = float(np.mean(v))
            elif kind == "sample_weight":
                expected[m] = float(np.average(v, weights=w))
            else:
                expected[m] = float(np.mean(np.repeat(v, np.asarray(w, dtype=np.int64))))
        if matrix:
            # Equal-size queries: also one ndcg_score call on the (q, m) matrix, sample_weight included.
            q = int(query.max()) + 1
            order = np.argsort(query, kind="stable")
            yt = y[order].reshape(q, -1)
            ys = p[order].reshape(q, -1)
            for m in RANKING:
                family, k = parse_ranking(m)
                if family == "ndcg":
                    direct = float(ndcg_score(yt, ys, k=k, sample_weight=w))
                    assert abs(direct - expected[m]) <= 1e-13 * abs(expected[m]), (m, direct, expected[m])
                    expected[m] = direct
        cases.append(
            {
                "name": name,
                "y": y.tolist(),
                "p": p.tolist(),
                "query": query.tolist(),
                "weights": None if w is None else np.asarray(w, dtype=np.float64).tolist(),
                "weights_kind": kind,
                "expected": expected,
                "undefined": {},
            }
        )

    def model(q, lo, hi, grades=4, noise=1.0):
        sizes = rng.integers(lo, hi + 1, size=q)
        query = np.repeat(np.arange(q), sizes)
        n = len(query)
        latent = rng.normal(size=n)
        y = np.clip(np.floor(latent * 1.2 + rng.normal(scale=0.5, size=n) - 0.3), 0, grades - 1)
        p = latent + rng.normal(scale=noise, size=n)
        return y, p, query

    y, p, query = model(40, 1, 30)
    add("random", y, p, query)
    add("ties", y, np.round(p, 1), query)
    add("coarse_ties", y, np.round(p), query)
    add("constant_scores", y, np.zeros_like(p), query)
    perm = rng.permutation(len(query))
    add("rows_interleaved", y[perm], p[perm], query[perm])
    y0 = y.copy()
    y0[np.isin(query, [0, 3, 7, 11])] = 0.0
    add("queries_without_relevant", y0, p, query)
    ys, ps, qs = model(30, 1, 3)
    add("small_queries", ys, ps, qs)
    add("single_item_queries", rng.integers(0, 3, size=12), rng.normal(size=12), np.arange(12))
    yc, pc, qc = model(25, 2, 40, noise=0.5)
    add("continuous_relevance", np.round(np.maximum(yc + rng.normal(scale=0.4, size=len(yc)), 0), 3), pc, qc)
    yl, pl, ql = model(8, 40, 200, grades=5)
    add("long_queries", yl, pl, ql)
    pz = np.round(p, 1)
    pz[pz == 0] = -0.0  # signed zeros tie with +0.0
    pz[::7] = 0.0
    add("signed_zero_ties", y, -pz, query)
    q_eq, m_eq = 20, 12
    ye = np.clip(np.floor(rng.normal(size=q_eq * m_eq) * 1.3), 0, 3)
    pe = np.round(ye * 0.6 + rng.normal(size=q_eq * m_eq), 1)
    qe = np.repeat(np.arange(q_eq), m_eq)
    add("equal_size_matrix", ye, pe, qe, matrix=True)
    add("equal_size_matrix_weighted", ye, pe, qe, rng.uniform(0.2, 3.0, size=q_eq), "sample_weight", matrix=True)
    add("tiny", [3, 2, 0, 1, 0, 0, 2], [0.1, 0.5, 0.9, 0.5, 0.2, 0.3, 0.3], [0, 0, 0, 0, 1, 1, 1])
    add("sample_weight", y, np.round(p, 1), query, rng.uniform(0.2, 3.0, size=40), "sample_weight")
    wm = rng.integers(0, 4, size=40).astype(np.float64)
    add("multiplicity", y, np.round(p, 1), query, wm, "multiplicity")
    # Tie-heavy cases: few distinct scores, so tie groups straddle every cutoff k; query sizes from 1
    # (single items) to well above 10, so k is larger than some queries and smaller than others.
    yt, pt, qt = model(60, 1, 45)
    add("tie_heavy_three_levels", yt, np.floor(pt).clip(-1, 1), qt)
    add("tie_heavy_two_levels", yt, (pt > 0).astype(np.float64), qt)
    add("tie_heavy_rounded", yt, np.round(pt * 2) / 2, qt)
    ya, pa, qa = model(50, 1, 14)
    add("tie_heavy_k_above_size", ya, np.round(pa), qa)
    add("tie_heavy_interleaved", yt[perm2 := rng.permutation(len(qt))], np.floor(pt).clip(-1, 1)[perm2], qt[perm2])
    return cases


# ---------------------------------------------------------------- fairness cases

FAIRNESS = ["demographic_parity_difference", "equal_opportunity_difference", "equalized_odds_difference"]


def nan_on_error(fn):
    """A metric for MetricFrame that gives NaN where scikit-learn raises (undefined in a group)."""

    def wrapped(y_true, y_pred, **kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return float(fn(y_true, y_pred, **kw))
            except ValueError:
                return float("nan")

    return wrapped


def fairness_expected(y, p, group, threshold, w):
    import fairlearn
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equal_opportunity_difference,
        equalized_odds_difference,
    )

    pred = (p > threshold).astype(np.int64)
    sw = {} if w is None else {"sample_weight": w}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fair = {
            "demographic_parity_difference": float(
                demographic_parity_difference(y, pred, sensitive_features=group, method="between_groups", **sw)
            ),
            "equal_opportunity_difference": float(
                equal_opportunity_difference(y, pred, sensitive_features=group, method="between_groups", **sw)
            ),
            "equalized_odds_difference": float(
                equalized_odds_difference(y, pred, sensitive_features=group, method="between_groups", **sw)
            ),
        }
    # Per-group values of every binary metric: fairlearn's MetricFrame.by_group over the engine's
    # scikit-learn definitions (the ranking metrics read p, the thresholded ones p > 0.5).
    label = lambda fn: (lambda yt, sc, **kw: fn(yt, (sc > 0.5).astype(np.int64), **kw))  # noqa: E731
    fns = {
        "auroc": roc_auc_score,
        "average_precision": average_precision_policy,
        "log_loss": lambda yt, sc, **kw: log_loss(yt, sc, labels=[0, 1], **kw),
        "brier": lambda yt, sc, **kw: brier_score_loss(yt, sc, labels=[0, 1], **kw),
        "accuracy": label(accuracy_score),
        "f1": label(f1_score),
        "precision": label(precision_score),
        "recall": label(recall_score),
        "ece": lambda yt, sc, sample_weight=None: ece_reference(np.asarray(yt), np.asarray(sc), sample_weight),
    }
    per_group = {}
    for m in BINARY:
        mf = MetricFrame(
            metrics=nan_on_error(fns[m]),
            y_true=y,
            y_pred=p,
            sensitive_features=group,
            sample_params=sw,
        )
        per_group[m] = {str(int(g)): (None if np.isnan(v) else float(v)) for g, v in mf.by_group.items()}
    return fair, per_group, fairlearn.__version__


def fairness_cases(rng: np.random.Generator) -> list[dict]:
    cases = []

    def add(name, y, p, group, threshold=0.5, w=None, kind=None):
        y = np.asarray(y, dtype=np.int64)
        p = np.asarray(p, dtype=np.float64)
        group = np.asarray(group, dtype=np.int64)
        if w is None or kind == "sample_weight":
            fair, per_group, version = fairness_expected(y, p, group, threshold, w)
        else:
            reps = np.asarray(w, dtype=np.int64)
            fair, per_group, version = fairness_expected(
                np.repeat(y, reps), np.repeat(p, reps), np.repeat(group, reps), threshold, None
            )
        cases.append(
            {
                "name": name,
                "y": y.tolist(),
                "p": p.tolist(),
                "group": group.tolist(),
                "threshold": threshold,
                "weights": None if w is None else np.asarray(w, dtype=np.float64).tolist(),
                "weights_kind": kind,
                "expected": fair,
                "per_group": per_group,
                "fairlearn_version": version,
            }
        )

    n = 600
    group = rng.integers(0, 3, size=n)
    x = rng.normal(size=n) + 0.4 * group
    y = (rng.random(n) < sigmoid(1.5 * x - 0.3 * group)).astype(np.int64)
    p = sigmoid(1.2 * x + rng.normal(scale=0.8, size=n))
    add("random_3_groups", y, p, group)
    add("threshold_0_3", y, p, group, threshold=0.3)
    add("threshold_0_7_rounded", y, np.round(p, 1), group, threshold=0.7)
    g4 = np.where(rng.random(n) < 0.05, 5, group * 2)  # indices 0, 2, 4, 5: not contiguous
    add("sparse_group_indices", y, p, g4)
    yn = y.copy()
    yn[group == 1] = 0  # group 1 has no positive: fairlearn's TPR there is 0 (nan_to_num)
    add("group_without_positives", yn, p, group)
    yp = y.copy()
    yp[group == 2] = 1  # group 2 has no negative: FPR 0
    add("group_without_negatives", yp, p, group)
    add("single_group", y, p, np.zeros(n, dtype=np.int64))
    add("everyone_selected", y, p, group, threshold=0.0)
    add("sample_weight", y, p, group, w=rng.uniform(0.2, 3.0, size=n), kind="sample_weight")
    wm = rng.integers(0, 4, size=n).astype(np.float64)
    wm[group == 2] = 0  # group 2 absent from the repeated rows
    add("multiplicity", y, np.round(p, 2), group, w=wm, kind="multiplicity")
    ph = np.round(p, 1)  # about 10% of the rows at exactly 0.5: negative under p > 0.5
    add("threshold_exactly_half", y, ph, group)
    add("tiny", [1, 0, 1, 0, 1, 1], [0.9, 0.2, 0.4, 0.1, 0.8, 0.6], [0, 0, 0, 1, 1, 1])
    return cases


# ---------------------------------------------------------------- business proxies (numpy)


def cost_matrix_reference(y, p, matrix, threshold, w):
    """Mean value per decision: value[outcome] per row (tp, fp, fn, tn at p > threshold), averaged
    with weights (np.average)."""
    pred = p > threshold
    value = np.select(
        [(y == 1) & pred, (y == 0) & pred, (y == 1) & ~pred],
        [matrix["tp"], matrix["fp"], matrix["fn"]],
        default=matrix["tn"],
    )
    return float(np.average(value, weights=w))


def top_fraction_mean_reference(value, score, fraction, w):
    """Weighted mean of `value` over the top `fraction` of the total weight when rows are ranked by
    descending score; a tie group straddling the cut enters with the fraction of its weight that fits
    (every row of the group in the same proportion), as the expected shortfall's boundary atom
    (Acerbi & Tasche 2002)."""
    w = np.ones_like(value) if w is None else np.asarray(w, dtype=np.float64)
    cut = fraction * w.sum()
    uniq, inv = np.unique(-score, return_inverse=True)  # groups of equal scores, best first
    gw = np.bincount(inv, weights=w, minlength=len(uniq))
    before = np.concatenate([[0.0], np.cumsum(gw)[:-1]])
    share = np.clip((cut - before) / np.where(gw > 0, gw, 1.0), 0.0, 1.0)
    share[gw == 0] = 0.0
    return float(np.sum(w * share[inv] * value) / cut)


def proxy_cases(rng: np.random.Generator) -> dict:
    n = 500
    x = rng.normal(size=n)
    y = (rng.random(n) < sigmoid(1.5 * x)).astype(np.int64)
    p = sigmoid(1.2 * x + rng.normal(scale=0.8, size=n))
    revenue = np.round(np.exp(rng.normal(3.0, 1.0, size=n)) * (1 + y), 2)
    margin = np.round(rng.normal(5.0, 20.0, size=n), 2)  # mixed signs
    sample_weight = rng.uniform(0.2, 3.0, size=n)
    multiplicity = rng.integers(0, 4, size=n).astype(np.float64)
    p_ties = np.round(p, 1)
    matrices = {
        "profit": {"tp": 120.0, "fp": -30.0, "fn": -80.0, "tn": 0.0},
        "cost": {"tp": 0.0, "fp": 1.0, "fn": 5.0, "tn": 0.0},
        "fractional": {"tp": 0.1, "fp": -0.7, "fn": 0.3, "tn": 0.2},
    }
    cases = []
    for mname, matrix in matrices.items():
        for threshold in (0.5, 0.2):
            for wname, w in (("none", None), ("sample_weight", sample_weight), ("multiplicity", multiplicity)):
                cases.append(
                    {
                        "kind": "cost_matrix",
                        "matrix": mname,
                        "threshold": threshold,
                        "weights": wname,
                        "scores": "p",
                        "expected": cost_matrix_reference(y, p, matrix, threshold, w),
                    }
                )
    for column, values in (("revenue", revenue), ("margin", margin)):
        for wname, w in (("none", None), ("sample_weight", sample_weight), ("multiplicity", multiplicity)):
            cases.append(
                {
                    "kind": "column_mean",
                    "column": column,
                    "weights": wname,
                    "expected": float(np.average(values, weights=w)),
                }
            )
            for scores, sc in (("p", p), ("p_ties", p_ties)):
                for fraction in (0.1, 0.25, 0.333, 1.0, 0.001):
                    cases.append(
                        {
                            "kind": "top_fraction_mean",
                            "column": column,
                            "fraction": fraction,
                            "weights": wname,
                            "scores": scores,
                            "expected": top_fraction_mean_reference(values, sc, fraction, w),
                        }
                    )
    return {
        "y": y.tolist(),
        "p": p.tolist(),
        "p_ties": p_ties.tolist(),
        "columns": {"revenue": revenue.tolist(), "margin": margin.tolist()},
        "weights": {"sample_weight": sample_weight.tolist(), "multiplicity": multiplicity.tolist()},
        "matrices": matrices,
        "cases": cases,
    }


# ---------------------------------------------------------------- average precision, exact reference

AP_EXACT_N = 3_000_000


def ap_exact_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer-defined data the TypeScript test rebuilds bit for bit (test/metrics/ap-exact.test.ts):
    h = i * 2654435761 mod 2^32, p = (h >> 12) / 2^20 (1M score levels: many ties), g = (i ^
    0x5bd1e995) * 40503 mod 2^32, y = 1 when g mod 1000 < 200 + (h >> 23), w = 1 + i mod 3."""
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    g = ((i ^ np.uint64(0x5BD1E995)) * np.uint64(40503)) & np.uint64(0xFFFFFFFF)
    p = (h >> np.uint64(12)).astype(np.float64) / 2.0**20
    y = ((g % np.uint64(1000)) < (np.uint64(200) + (h >> np.uint64(23)))).astype(np.int64)
    w = (1 + i % np.uint64(3)).astype(np.int64)
    return y, p, w


def ap_exact(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Average precision (scikit-learn's definition, weighted by the integer weights w) in 60-digit
    decimal arithmetic, i.e. exact to far below a double's resolution, and the same sum accumulated
    naively in doubles (for comparison). tp and fp are exact integers in both."""
    from decimal import Decimal, getcontext

    getcontext().prec = 60
    order = np.argsort(-p, kind="stable")
    ps, ys, ws = p[order], y[order], w[order]
    ends = np.flatnonzero(np.diff(ps) != 0)
    ends = np.concatenate([ends, [len(ps) - 1]])
    tp_c = np.cumsum(ys * ws)[ends]
    fp_c = np.cumsum((1 - ys) * ws)[ends]
    dtp = np.diff(np.concatenate([[0], tp_c]))
    exact = Decimal(0)
    naive = 0.0
    for d, t, f in zip(dtp.tolist(), tp_c.tolist(), fp_c.tolist()):
        if d > 0:
            exact += Decimal(d) * Decimal(t) / Decimal(t + f)
            naive += d * (t / (t + f))
    P = int(tp_c[-1])
    return float(exact / Decimal(P)), naive / P


def ap_exact_doc() -> dict:
    y, p, w = ap_exact_data(AP_EXACT_N)
    unweighted, naive_u = ap_exact(y, p, np.ones_like(w))
    weighted, naive_w = ap_exact(y, p, w)
    sk_u = float(average_precision_score(y, p))
    sk_w = float(average_precision_score(y, p, sample_weight=w.astype(np.float64)))
    return {
        "n": AP_EXACT_N,
        "exact": {"unweighted": unweighted, "weighted": weighted},
        "naive_double_sum": {"unweighted": naive_u, "weighted": naive_w},
        "sklearn": {"unweighted": sk_u, "weighted": sk_w},
    }


def write_doc(stem: str, doc: dict) -> None:
    doc = {"generator": "test/metrics/generate_fixtures.py", "seed": SEED, "sklearn_version": sklearn.__version__,
           "numpy_version": np.__version__, **doc}
    path = OUT / f"{stem}.json"
    path.write_text(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


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
    stems = ("binary", "multiclass", "regression", "ranking", "fairness", "proxies", "ap_exact")
    files = [str(OUT / f"{t}.json") for t in stems]
    subprocess.run([str(biome), "format", "--write", *files], cwd=root, check=True, capture_output=True)


def main() -> None:
    rng = np.random.default_rng(SEED)
    write("binary", binary_cases(rng))
    write("multiclass", multiclass_cases(rng))
    write("regression", regression_cases(rng))
    # Each addition has its own generator, so the files above stay as they were.
    write("ranking", ranking_cases(np.random.default_rng([SEED, 1])))
    write_doc("fairness", {"task": "binary", "cases": fairness_cases(np.random.default_rng([SEED, 2]))})
    write_doc("proxies", proxy_cases(np.random.default_rng([SEED, 3])))
    write_doc("ap_exact", ap_exact_doc())
    format_with_biome()


if __name__ == "__main__":
    main()
