#!/usr/bin/env python3
"""Tabular baseline scaffolded by `ratchet init`: a scikit-learn / LightGBM pipeline driven by params.yaml.

How Ratchet runs it: `python train.py` in a sandbox, cwd = the project's worktree (read-only), with
  RATCHET_TRAIN_PARQUET    Parquet of the train split, every column including the target
  RATCHET_PUBLIC_PARQUET   Parquet of the public holdout, features only
  RATCHET_PRIVATE_PARQUET  Parquet of the private holdout, features only
  (RATCHET_TRAIN, RATCHET_PUBLIC, RATCHET_PRIVATE: the same splits as CSV, read when no Parquet is given)
  RATCHET_OUTPUT   the only writable folder: public.parquet and private.parquet go there
  RATCHET_SEED     integer seed
By hand (no RATCHET_* variables) it reads .ratchet/data/train.parquet and {public,private}_features.parquet
(or the .csv files) and writes to .ratchet/manual-output/.

Each predictions file (Parquet; Ratchet also accepts CSV) has the columns `<id>`, `prediction` and one row
per holdout id:
  binary      prediction = probability of POSITIVE_CLASS
  multiclass  prediction = predicted label, plus proba_<label> columns (one per class)
  regression  prediction = predicted value
Ratchet scores the files on labels this script never sees, so it prints no score of its own.

Everything tunable lives in params.yaml (the search proposer rewrites it):
  model:                 logistic_regression | linear_regression | random_forest | extra_trees
                         | hist_gradient_boosting | lightgbm | ensemble
  <model>:               that family's hyperparameters (passed to the estimator as keyword arguments)
  ensemble:              with model: ensemble, {members: [...], weights: [...]}: each member is a params
                         mapping of its own (model, its section, and any preprocessing key below, which
                         overrides the top-level one); the prediction is the weighted average of the members'
                         probabilities (regression: values); weights default to equal, or are fitted with
                         fit_weights: {metric: <the contract's metric>, folds: 5, rounds: 25} (ensemble
                         selection over the members' out-of-fold predictions on the train split; a member
                         never selected gets weight 0 and is not fitted); fit_weights.anchor: {members: k,
                         share: 0.5} keeps that share on the first k members (the kept model), weighted as
                         it weighted them (fixed weights: [...], or re-fitted, with a nested anchor)
  scale_numeric:         standardize numeric columns (default true)
  onehot_min_frequency:  categories rarer than this (count, or fraction if < 1) share one column
  onehot_max_categories: at most this many one-hot columns per categorical column (default 50)
  drop_columns:          columns never used as features (the id and target are always dropped)
  categorical_columns:   numeric-looking columns to one-hot encode anyway (codes, not quantities)
  date_columns:          dates/timestamps, expanded into calendar features (never one-hot encoded raw)
  high_cardinality_columns: categoricals with many values: no one-hot (LightGBM: native categoricals;
                         forests: ordinal codes; linear models and HistGradientBoosting: TargetEncoder)
`ratchet init` fills date_columns, high_cardinality_columns and drop_columns from the train split.
The line "[train] feature plan: {...}" says how every column is used.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# threads for forests, LightGBM and (through OpenMP) HistGradientBoosting: Ratchet divides the cores among the
# experiments running at once (RATCHET_THREADS)
N_JOBS = max(1, int(os.environ.get("RATCHET_THREADS", "2")))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(N_JOBS))  # before numpy/scikit-learn load their thread pools
# how waiting OpenMP threads behave is left to the OpenMP runtime (they spin briefly, then sleep): forcing
# OMP_WAIT_POLICY=PASSIVE made LightGBM about 14x slower on an idle machine. On a machine shared with other jobs,
# set OMP_WAIT_POLICY=PASSIVE where you run ratchet; every experiment gets it.

import numpy as np
import pandas as pd
import yaml

# Written by `ratchet init`; the contract (ratchet.yaml) is the authority on these values.
TARGET = "outwork"
ID = "row_id"
TASK = "binary"  # binary | multiclass | regression
POSITIVE_CLASS = "1"  # binary only: the label text that counts as positive
# The contract's group column (group split; ranking: the query) and time column (temporal split): the folds of an
# ensemble's out-of-fold predictions (fit_weights) keep a group together / are contiguous stretches of time, as the
# holdouts are. Empty: shuffled folds.
GROUP = "id"
TIME = ""

PARAMS_FILE = Path(__file__).resolve().parent / "params.yaml"

CLASSIFIERS = ("logistic_regression", "random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm")
REGRESSORS = ("linear_regression", "random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm")
PREPROCESSING_KEYS = (
    "scale_numeric",
    "onehot_min_frequency",
    "onehot_max_categories",
    "drop_columns",
    "categorical_columns",
    "date_columns",
    "high_cardinality_columns",
)
LINEAR = ("logistic_regression", "linear_regression")


def log(message: str) -> None:
    print(f"[train] {message}", flush=True)


def fail(message: str) -> None:
    print(f"[train] error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


# ---------------------------------------------------------------------------------------- params


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as 1e-3 (plain PyYAML reads them as strings)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_params() -> dict[str, Any]:
    if not PARAMS_FILE.exists():
        fail(f"{PARAMS_FILE.name} not found next to train.py; create it (see the docstring for its keys)")
    with open(PARAMS_FILE, encoding="utf-8") as fh:
        params = yaml.load(fh, Loader=_Loader) or {}
    if not isinstance(params, dict):
        fail(f"{PARAMS_FILE.name} must be a mapping of keys to values")
    families = CLASSIFIERS if TASK in ("binary", "multiclass") else REGRESSORS
    model = params.get("model")
    if model not in (*families, "ensemble"):
        fail(f"{PARAMS_FILE.name}: model must be one of {', '.join(families)} or ensemble for a {TASK} task, "
             f"not {model!r}")
    check_section(params, model, families, "")
    if model == "ensemble":
        members = member_params(params)
        for i, member in enumerate(members):
            if member.get("model") not in families:
                fail(f"{PARAMS_FILE.name}: ensemble.members[{i}].model must be one of {', '.join(families)}, "
                     f"not {member.get('model')!r}")
            check_section(member, member["model"], families, f"ensemble.members[{i}].")
            stray = sorted(str(k) for k in params["ensemble"]["members"][i]
                           if k not in (*PREPROCESSING_KEYS, "model", member["model"]))
            if stray:
                log(f"note: {PARAMS_FILE.name} ensemble.members[{i}] keys not used by this script: {', '.join(stray)}")
    known = set(PREPROCESSING_KEYS) | {"model", "ensemble"} | set(CLASSIFIERS) | set(REGRESSORS)
    unknown = sorted(str(k) for k in params if k not in known)
    if unknown:
        log(f"note: {PARAMS_FILE.name} keys not used by this script: {', '.join(unknown)}")
    return params


def check_section(params: dict[str, Any], model: str, families: tuple[str, ...], at: str) -> None:
    """The model's section must be a mapping (an ensemble's: members, a non-empty list, and optional weights)."""
    section = params.get(model) or {}
    if not isinstance(section, dict):
        fail(f"{PARAMS_FILE.name}: '{at}{model}' must be a mapping of hyperparameters, not {section!r}")
    if model != "ensemble":
        return
    members = section.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, dict) for m in members):
        fail(f"{PARAMS_FILE.name}: ensemble.members must be a non-empty list of params mappings "
             f"(each with model: one of {', '.join(families)})")
    weights = section.get("weights")
    fit = section.get("fit_weights")
    if weights is not None and fit is not None:
        fail(f"{PARAMS_FILE.name}: give ensemble.weights (fixed) or ensemble.fit_weights (fitted), not both")
    if fit is not None:
        check_fit_weights(fit, members)
    if weights is not None and (
        not isinstance(weights, list) or len(weights) != len(members)
        or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)
        or sum(weights) <= 0
    ):
        fail(f"{PARAMS_FILE.name}: ensemble.weights must be {len(members)} numbers >= 0, not all 0 "
             f"(one per member), or be left out for equal weights")


# What fit_weights can optimise, per task: Ratchet's metric names. Thresholded metrics (accuracy, f1, ...) and ece
# are fitted on log_loss, their smooth stand-in, and the log says so.
FIT_METRICS = {
    "binary": ("auroc", "average_precision", "log_loss", "brier"),
    "multiclass": ("log_loss", "auroc_ovr"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
DEFAULT_FIT_METRIC = {"binary": "log_loss", "multiclass": "log_loss", "regression": "rmse"}
PROXY_METRICS = {
    "binary": ("accuracy", "f1", "precision", "recall", "ece"),
    "multiclass": ("accuracy", "f1_macro", "f1_micro", "f1_weighted"),
    "regression": (),
}


def check_fit_weights(fit: Any, members: list[Any]) -> None:
    """`ensemble.fit_weights` must be {metric?, folds?, rounds?, anchor?} with a metric of this task."""
    known = (*FIT_METRICS[TASK], *PROXY_METRICS[TASK])
    if not isinstance(fit, dict) or fit.get("metric", known[0]) not in known:
        fail(f"{PARAMS_FILE.name}: ensemble.fit_weights must be a mapping with optional metric: one of "
             f"{', '.join(known)} (the contract's primary metric; default {DEFAULT_FIT_METRIC[TASK]}), folds "
             f"(2-20, default 5) and rounds (1-1000, default 25)")
    for key, low, high in (("folds", 2, 20), ("rounds", 1, 1000)):
        value = fit.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            fail(f"{PARAMS_FILE.name}: ensemble.fit_weights.{key} must be an integer from {low} to {high}, "
                 f"not {value!r}")
    stray = sorted(str(k) for k in fit if k not in ("metric", "folds", "rounds", "anchor"))
    if stray:
        fail(f"{PARAMS_FILE.name}: ensemble.fit_weights has unknown keys {', '.join(stray)} "
             "(allowed: metric, folds, rounds, anchor)")
    if fit.get("anchor") is not None:
        check_anchor(fit["anchor"], len(members), "ensemble.fit_weights.anchor")


def check_anchor(anchor: Any, n: int, at: str) -> None:
    """An anchor is {members: k < n, share: 0 < s < 1} and, for the kept ensemble's own weights, either weights: k
    numbers or a nested anchor (checked the same way over the first k members)."""
    k = anchor.get("members") if isinstance(anchor, dict) else None
    share = anchor.get("share") if isinstance(anchor, dict) else None
    if (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n
            or isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1):
        fail(f"{PARAMS_FILE.name}: {at} must be {{members: k, share: s}} with k from 1 to {n - 1} (the kept model's "
             f"members, listed first) and s between 0 and 1 (its share of the weight), not {anchor!r}")
    stray = sorted(str(key) for key in anchor if key not in ("members", "share", "weights", "anchor"))
    if stray:
        fail(f"{PARAMS_FILE.name}: {at} has unknown keys {', '.join(stray)} (allowed: members, share, weights, anchor)")
    weights = anchor.get("weights")
    if weights is not None and anchor.get("anchor") is not None:
        fail(f"{PARAMS_FILE.name}: {at} takes weights (fixed) or anchor (fitted), not both")
    if weights is not None and (
        not isinstance(weights, list) or len(weights) != k
        or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)
        or sum(weights) <= 0
    ):
        fail(f"{PARAMS_FILE.name}: {at}.weights must be {k} numbers >= 0, not all 0")
    if anchor.get("anchor") is not None:
        check_anchor(anchor["anchor"], k, f"{at}.anchor")


def member_params(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The params of each model to fit: the params themselves, or an ensemble's members, each on top of the
    top-level preprocessing keys (a member's own keys win)."""
    if params.get("model") != "ensemble":
        return [params]
    shared = {k: v for k, v in params.items() if k in PREPROCESSING_KEYS}
    return [{**shared, **member} for member in params["ensemble"]["members"]]


def member_weights(params: dict[str, Any], n: int) -> np.ndarray:
    """Normalised weights of the models (equal unless an ensemble gives weights)."""
    weights = (params.get("ensemble") or {}).get("weights") if params.get("model") == "ensemble" else None
    w = np.asarray(weights if weights is not None else [1.0] * n, dtype=float)
    return w / w.sum()


def fit_loss(metric: str) -> tuple[str, Any, int]:
    """The loss fit_weights minimises for the contract's metric: (the metric it really uses, loss(y, prediction),
    sign that turns the loss back into the metric's value). Thresholded metrics use log_loss."""
    from sklearn import metrics as m

    if metric not in FIT_METRICS[TASK]:
        metric = "log_loss"
    if metric == "auroc":
        return metric, lambda y, p: -m.roc_auc_score(y, p), -1
    if metric == "average_precision":
        return metric, lambda y, p: -m.average_precision_score(y, p), -1
    if metric == "brier":
        return metric, m.brier_score_loss, 1
    if metric == "auroc_ovr":
        return metric, lambda y, p: -m.roc_auc_score(y, p / p.sum(axis=1, keepdims=True), multi_class="ovr",
                                                     labels=list(range(p.shape[1]))), -1
    if metric in ("rmse", "r2"):  # r2 = 1 - mse / var(y): the same order as rmse
        return "rmse", lambda y, p: float(np.sqrt(np.mean((y - p) ** 2))), 1
    if metric == "mae":
        return metric, m.mean_absolute_error, 1
    if metric == "mape":
        return metric, m.mean_absolute_percentage_error, 1
    if TASK == "binary":
        return "log_loss", lambda y, p: m.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]), 1
    return "log_loss", lambda y, p: m.log_loss(y, np.clip(p, 1e-15, 1) / np.clip(p, 1e-15, 1).sum(axis=1, keepdims=True),
                                               labels=list(range(p.shape[1]))), 1


def out_of_fold(make: Any, x: pd.DataFrame, y: np.ndarray, fit_params: dict[str, Any], folds: Any,
                labels: list[str]) -> np.ndarray:
    """One model's out-of-fold predictions on the train split: binary P(positive), multiclass a probability per
    label (columns in `labels` order), regression values."""
    oof = np.zeros((len(x), len(labels))) if TASK == "multiclass" else np.zeros(len(x))
    for fit_rows, held_rows in folds:
        pipeline = make()
        pipeline.fit(x.iloc[fit_rows], y[fit_rows], **fit_params)
        held = x.iloc[held_rows]
        if TASK == "regression":
            oof[held_rows] = pipeline.predict(held)
            continue
        proba = pipeline.predict_proba(held)
        learned = [str(c) for c in pipeline.classes_]
        if TASK == "binary":
            oof[held_rows] = proba[:, learned.index("1")] if "1" in learned else 0.0
        else:
            for j, label in enumerate(learned):
                oof[held_rows, labels.index(label)] = proba[:, j]
    return oof


def greedy_weights(oofs: list[np.ndarray], y: np.ndarray, loss: Any, rounds: int) -> np.ndarray:
    """Ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes 2004, "Ensemble selection from libraries of
    models", ICML): start from the best model alone, then `rounds` - 1 times add (with replacement) the model whose
    addition to the running average gives the lowest loss, even when no addition helps; the ensemble is the shortest
    prefix of those picks with the lowest loss (as in AutoGluon's ensemble selection), and a model's weight is its
    share of the prefix's picks. Ties go to the earlier model. Returns how often each model was picked in that prefix
    (0: never); the weights are these counts over their sum."""
    picks: list[int] = []
    losses: list[float] = []
    current: np.ndarray | None = None
    for r in range(rounds):
        best: tuple[float, int, np.ndarray] | None = None
        for i, oof in enumerate(oofs):
            candidate = oof if current is None else (current * r + oof) / (r + 1)
            value = float(loss(y, candidate))
            if best is None or value < best[0]:
                best = (value, i, candidate)
        assert best is not None
        picks.append(best[1])
        losses.append(best[0])
        current = best[2]
    kept = picks[: int(np.argmin(losses)) + 1]
    return np.bincount(kept, minlength=len(oofs))


# ------------------------------------------------------------------------------------------ data


def fitted_weights(prepared: list[Any], train: pd.DataFrame, y: np.ndarray, fit: dict[str, Any],
                   seed: int) -> np.ndarray:
    """`ensemble.fit_weights`: the members' weights by ensemble selection ({@link greedy_weights}) over their
    out-of-fold predictions on the train split ({@link oof_folds}). The holdouts are never seen; the members are
    fitted on the whole train split afterwards."""
    k = int(fit.get("folds", 5))
    rounds = int(fit.get("rounds", 25))
    asked = str(fit.get("metric", DEFAULT_FIT_METRIC[TASK]))
    metric, loss, sign = fit_loss(asked)
    if metric != asked:
        log(f"fit_weights: {asked} is thresholded or not smooth; the weights are fitted on {metric}")
    labels = sorted({str(v) for v in y}) if TASK == "multiclass" else []
    target = np.array([labels.index(str(v)) for v in y]) if TASK == "multiclass" else y
    folds, how = oof_folds(train, target, k, seed)
    started = time.monotonic()
    oofs = [out_of_fold(make, x, y, fit_params, folds, labels) for _, _, x, make, fit_params in prepared]
    alone = [sign * float(loss(target, oof)) for oof in oofs]
    anchor = fit.get("anchor")
    weights, picks, kept = selection(len(oofs), anchor, oofs, target, loss, rounds)
    together = sign * float(loss(target, np.tensordot(weights, np.stack(oofs), axes=1)))
    log(f"fit_weights: {k}-fold ({how}) out-of-fold {metric} of each member {[round(v, 4) for v in alone]}; "
        f"ensemble selection (best of {rounds} rounds): picks {picks.tolist()} of {int(picks.sum())}"
        + (f"; anchored: {anchor['share']} on the kept model's {anchor['members']} member(s), weights "
           f"{[round(float(w), 6) for w in kept]}" if kept is not None else "")
        + f"; weights {[round(float(w), 4) for w in weights]}, "
        f"out-of-fold {metric} {together:.4f} ({time.monotonic() - started:.1f}s)")
    return weights


def oof_folds(train: pd.DataFrame, target: np.ndarray, k: int, seed: int) -> tuple[list[Any], str]:
    """K folds of the train split, made like the contract's holdouts: whole groups of GROUP per fold
    (StratifiedGroupKFold for classification), contiguous stretches of TIME, else shuffled (stratified for
    classification when every class has K rows). Returns the (fit rows, held-out rows) pairs and how they were made."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    rows = np.zeros(len(target))
    stratify = TASK != "regression" and np.bincount(np.unique(target, return_inverse=True)[1]).min() >= k
    for column in (GROUP, TIME):
        if column and column not in train.columns:
            fail(f"train.py names {column!r} as the split's column (GROUP/TIME), but the train split has no such column")
    if GROUP:
        groups = as_text(train[GROUP]).fillna("").to_numpy()
        if len(set(groups)) >= k:
            splitter = (StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed) if stratify
                        else GroupKFold(n_splits=k))
            return list(splitter.split(rows, target, groups)), f"groups of {GROUP} kept together"
        log(f"fit_weights: {len(set(groups))} groups of {GROUP} for {k} folds; the folds ignore them")
    if TIME:
        values = train[TIME]
        key = (values.to_numpy(dtype=float) if pd.api.types.is_numeric_dtype(values)
               else parse_dates(values).to_numpy(dtype="datetime64[ns]"))
        blocks = np.array_split(np.argsort(key, kind="stable"), k)  # missing times sort last
        folds = [(np.concatenate(blocks[:i] + blocks[i + 1:]), blocks[i]) for i in range(k)]
        return folds, f"contiguous in {TIME}"
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(rows, target)), "stratified" if stratify else "shuffled"


def selection(n: int, anchor: dict[str, Any] | None, oofs: list[np.ndarray], target: np.ndarray, loss: Any,
              rounds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Weights over the first n members: ensemble selection among them ({@link greedy_weights}), blended with an
    anchor when given: `share` of the weight on the kept model's first `members` members, weighted as the kept model
    weighted them (fixed `weights`, or fitted the same way, recursively: the same folds and seed give the same
    out-of-fold predictions, so a kept ensemble's weights are reproduced exactly). Returns (weights, picks of the
    selection, the kept model's weights or None)."""
    picks = greedy_weights(oofs[:n], target, loss, rounds)
    weights = picks / picks.sum()
    if anchor is None:
        return weights, picks, None
    k = int(anchor["members"])
    if anchor.get("weights") is not None:
        kept = np.asarray(anchor["weights"], dtype=float)
        kept = kept / kept.sum()
    else:
        kept = selection(k, anchor.get("anchor"), oofs, target, loss, rounds)[0]
    weights = (1 - float(anchor["share"])) * weights
    weights[:k] += float(anchor["share"]) * kept
    return weights, picks, kept


def data_paths() -> tuple[Path, Path, Path, Path]:
    """The train, public and private split files (Parquet when Ratchet provides it, else CSV) and the output folder."""
    env = os.environ
    if "RATCHET_TRAIN" in env or "RATCHET_TRAIN_PARQUET" in env:
        missing = [k for k in ("RATCHET_PUBLIC", "RATCHET_PRIVATE", "RATCHET_OUTPUT") if not env.get(k)]
        if missing:
            fail(f"RATCHET_TRAIN is set but {', '.join(missing)} is not")
        paths = [Path(env.get(f"RATCHET_{n}_PARQUET") or env[f"RATCHET_{n}"]) for n in ("TRAIN", "PUBLIC", "PRIVATE")]
        return paths[0], paths[1], paths[2], Path(env["RATCHET_OUTPUT"])
    base = Path(".ratchet/data")
    if (base / "train.parquet").exists():
        return (base / "train.parquet", base / "public_features.parquet", base / "private_features.parquet",
                Path(".ratchet/manual-output"))
    return base / "train.csv", base / "public.csv", base / "private.csv", Path(".ratchet/manual-output")


def read_csv(path: Path, with_target: bool) -> pd.DataFrame:
    """Read a split file (Parquet or CSV, by its suffix); ids and class labels as text."""
    if not path.exists():
        fail(f"{path} does not exist")
    # Ids and labels are read as text, exactly as written, so they round-trip unchanged.
    dtypes = {ID: str}
    if with_target and TASK != "regression":
        dtypes[TARGET] = str
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        for column, dtype in dtypes.items():
            if column in frame.columns:
                frame[column] = frame[column].astype(dtype)
    else:
        frame = pd.read_csv(path, dtype=dtypes, low_memory=False)
    if ID not in frame.columns:
        fail(f"{path} has no id column {ID!r}")
    if with_target and TARGET not in frame.columns:
        fail(f"{path} has no target column {TARGET!r}")
    return frame


def write_predictions(result: pd.DataFrame, output_dir: Path, name: str) -> Path:
    """Write one holdout's predictions as `<name>.parquet` (Ratchet reads it without parsing text)."""
    out = output_dir / f"{name}.parquet"
    result.to_parquet(out, index=False)
    return out


def as_text(series: pd.Series) -> pd.Series:
    """Categorical values as strings (missing stays NaN), identical across train and holdouts."""
    return series.map(lambda v: v if pd.isna(v) else str(v)).astype(object)


def feature_plan(train: pd.DataFrame, params: dict[str, Any]) -> dict[str, list[str]]:
    """How each column of the train split is used: numeric, one-hot categorical, date, high-cardinality."""
    drop = list(params.get("drop_columns") or [])
    forced = list(params.get("categorical_columns") or [])
    dates = list(params.get("date_columns") or [])
    high = list(params.get("high_cardinality_columns") or [])
    for key, names in (("drop_columns", drop), ("categorical_columns", forced), ("date_columns", dates),
                       ("high_cardinality_columns", high)):
        absent = [c for c in names if c not in train.columns]
        if absent:
            fail(f"{PARAMS_FILE.name}: {key} names columns the data does not have: {absent}")
    features = [c for c in train.columns if c not in {TARGET, ID, *drop}]
    plan: dict[str, list[str]] = {"numeric": [], "categorical": [], "date": [], "date_time": [], "high": []}
    for column in features:
        series = train[column]
        if column in dates:
            plan["date"].append(column)
            parsed = parse_dates(series)
            if ((parsed.dt.hour != 0) | (parsed.dt.minute != 0)).any():
                plan["date_time"].append(column)  # hour and minute only when the values have a time part
        elif column in high:
            plan["high"].append(column)
        elif column in forced or series.dtype == bool or not pd.api.types.is_numeric_dtype(series):
            plan["categorical"].append(column)
        else:
            plan["numeric"].append(column)
    return plan


def used_columns(plan: dict[str, list[str]]) -> list[str]:
    """The data's columns the model reads (features.json)."""
    return plan["numeric"] + plan["date"] + plan["categorical"] + plan["high"]


def parse_dates(series: pd.Series) -> pd.Series:
    """ISO dates/timestamps as naive UTC datetimes; values that do not parse become NaT."""
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series.astype("string").str.strip(), errors="coerce", format="ISO8601", utc=True)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series


CALENDAR = ("year", "month", "day", "weekday", "dayofyear")


def date_features(plan: dict[str, list[str]]) -> list[str]:
    """Names of the calendar features: <column>__year, ..., <column>__days (days since 1970-01-01)."""
    out = []
    for column in plan["date"]:
        parts = CALENDAR + (("hour", "minute") if column in plan["date_time"] else ()) + ("days",)
        out += [f"{column}__{p}" for p in parts]
    return out


def features(frame: pd.DataFrame, plan: dict[str, list[str]], path: Path) -> pd.DataFrame:
    absent = [c for c in used_columns(plan) if c not in frame.columns]
    if absent:
        fail(f"{path} lacks feature columns present in the train split: {absent}")
    out: dict[str, pd.Series] = {}
    for column in plan["numeric"]:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in plan["date"]:
        parsed = parse_dates(frame[column])
        stamp = parsed.dt
        values = {"year": stamp.year, "month": stamp.month, "day": stamp.day, "weekday": stamp.dayofweek,
                  "dayofyear": stamp.dayofyear, "hour": stamp.hour, "minute": stamp.minute,
                  "days": (parsed - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)}
        parts = CALENDAR + (("hour", "minute") if column in plan["date_time"] else ()) + ("days",)
        for p in parts:
            out[f"{column}__{p}"] = values[p].astype(float)
    for column in plan["categorical"] + plan["high"]:
        out[column] = as_text(frame[column])
    return pd.DataFrame(out, index=frame.index)


# ---------------------------------------------------------------------------------------- models


def build_preprocessor(plan: dict[str, list[str]], params: dict[str, Any], family: str, seed: int) -> Any:
    """The ColumnTransformer for a model family. High-cardinality columns come first (LightGBM is told their
    indices). One-hot output is sparse for the linear models (they take sparse input and a wide one-hot
    stays cheap); the tree families get a dense matrix: HistGradientBoosting accepts no sparse input, and
    for the forests and LightGBM the one-hot is capped (onehot_max_categories) so dense stays small."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

    linear = family in LINEAR
    numeric = plan["numeric"] + date_features(plan)
    parts = []
    if plan["high"]:
        if family == "lightgbm":
            # Native categoricals: codes fitted on the training split only; unseen and missing values → NaN,
            # which LightGBM sends down the missing-value branch (the indices go to fit as categorical_feature).
            encoder: Any = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                          encoded_missing_value=np.nan)
        elif family in ("random_forest", "extra_trees"):
            # Trees split ordinal codes well enough; unseen and missing values get their own code, -1.
            encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
        else:
            # Linear models and HistGradientBoosting (whose native categoricals stop at 255 values): the
            # target mean per value, cross-fitted on the training split so a row never sees its own label.
            encoder = TargetEncoder(random_state=seed)
        parts.append(("high_cardinality", encoder, plan["high"]))
    if numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if params.get("scale_numeric", True):
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), numeric))
    if plan["categorical"]:
        min_frequency = params.get("onehot_min_frequency", 1)
        max_categories = params.get("onehot_max_categories", 50)
        encoder = OneHotEncoder(
            handle_unknown="ignore",
            min_frequency=min_frequency if min_frequency not in (None, 0, 1) else None,
            max_categories=max_categories,
            sparse_output=linear,
        )
        impute = SimpleImputer(strategy="most_frequent")
        parts.append(("categorical", Pipeline([("impute", impute), ("onehot", encoder)]), plan["categorical"]))
    if not parts:
        fail("no feature columns left after dropping the id, the target and drop_columns")
    # sparse_threshold=1: the linear models get a sparse matrix whenever a part is sparse; 0: always dense.
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=1.0 if linear else 0.0)


def describe_plan(plan: dict[str, list[str]], family: str) -> dict[str, Any]:
    """The feature plan printed before fitting: how every used column enters the model."""
    high = ("lightgbm native categorical" if family == "lightgbm"
            else "ordinal codes" if family in ("random_forest", "extra_trees") else "target encoder")
    return {
        "numeric": plan["numeric"],
        "date": {c: [f for f in date_features(plan) if f.startswith(f"{c}__")] for c in plan["date"]},
        "onehot": {"columns": plan["categorical"], "sparse": family in LINEAR},
        "high_cardinality": {"columns": plan["high"], "encoding": high},
    }


def build_model(params: dict[str, Any], seed: int) -> tuple[str, dict[str, Any], Any]:
    family = params["model"]
    hp = dict(params.get(family) or {})
    classify = TASK in ("binary", "multiclass")
    if family in ("random_forest", "extra_trees", "hist_gradient_boosting") and hp.get("max_depth") == 0:
        hp["max_depth"] = None  # 0 means "no limit"
    if family == "extra_trees" and hp.get("max_samples") is not None:
        hp.setdefault("bootstrap", True)  # ExtraTrees subsamples rows (max_samples) only with bootstrap

    if family == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        kwargs = {"C": 1.0, "max_iter": 2000, "random_state": seed, **hp}
        return family, hp, LogisticRegression(**kwargs)
    if family == "linear_regression":
        from sklearn.linear_model import Ridge

        kwargs = {"alpha": 1.0, **hp}
        return family, hp, Ridge(**kwargs)
    if family in ("random_forest", "extra_trees"):
        from sklearn import ensemble

        name = ("RandomForest" if family == "random_forest" else "ExtraTrees") + (
            "Classifier" if classify else "Regressor"
        )
        kwargs = {"n_estimators": 300, "n_jobs": N_JOBS, "random_state": seed, **hp}
        return family, hp, getattr(ensemble, name)(**kwargs)
    if family == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        kwargs = {"random_state": seed, **hp}
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return family, hp, cls(**kwargs)
    if family == "lightgbm":
        import lightgbm

        kwargs = {"n_estimators": 300, "learning_rate": 0.05, "n_jobs": N_JOBS, "random_state": seed,
                  "verbose": -1, **hp}
        if kwargs.get("subsample", 1.0) < 1.0:
            kwargs.setdefault("subsample_freq", 1)  # LightGBM ignores subsample unless bagging is on
        cls = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return family, hp, cls(**kwargs)
    fail(f"unknown model family {family!r}")
    raise AssertionError  # unreachable


# ------------------------------------------------------------------------------------------ main


def main() -> None:
    started = time.monotonic()
    warnings.filterwarnings("ignore", message=".*unknown categories.*")
    warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
    if TASK not in ("binary", "multiclass", "regression"):
        fail(f"TASK must be binary, multiclass or regression, not {TASK!r}")
    if TASK == "binary" and not POSITIVE_CLASS:
        fail("POSITIVE_CLASS is empty; a binary task needs the label of the positive class")

    params = load_params()
    seed = int(os.environ.get("RATCHET_SEED", "0"))
    train_path, public_path, private_path, output_dir = data_paths()

    train = read_csv(train_path, with_target=True)
    labelled = train[TARGET].notna()
    if TASK == "regression":
        train[TARGET] = pd.to_numeric(train[TARGET], errors="coerce")
        labelled = train[TARGET].notna()
    if not labelled.all():
        log(f"dropping {int((~labelled).sum())} train rows with no {TARGET}")
        train = train[labelled].reset_index(drop=True)

    if TASK == "binary":
        y = (train[TARGET].astype(str) == POSITIVE_CLASS).astype(int).to_numpy()
        if y.min() == y.max():
            fail(f"the train split has only one class (positive class {POSITIVE_CLASS!r}: {int(y.sum())} rows)")
    elif TASK == "multiclass":
        y = train[TARGET].astype(str).to_numpy(dtype=object)
        if len(set(y)) < 2:
            fail("the train split has fewer than two classes")
    else:
        y = train[TARGET].astype(float).to_numpy()

    from sklearn.pipeline import Pipeline

    members = member_params(params)
    weights = member_weights(params, len(members))
    log(f"task={TASK} target={TARGET} id={ID} seed={seed}")
    ensemble = params.get("model") == "ensemble"
    fit = (params.get("ensemble") or {}).get("fit_weights") if ensemble else None
    if ensemble:
        log(f"ensemble of {len(members)} models, weights "
            f"{'fitted on out-of-fold predictions' if fit is not None else [round(float(w), 4) for w in weights]}")
    prepared = []  # per member: its plan, train features, a fresh-pipeline maker, fit keyword arguments
    for i, member in enumerate(members):
        prefix = f"member {i + 1}/{len(members)}: " if ensemble else ""
        plan = feature_plan(train, member)
        x_train = features(train, plan, train_path)
        family, hp, _ = build_model(member, seed)
        preprocessing = {k: member[k] for k in PREPROCESSING_KEYS if k in member and member[k] not in (None, [])}

        def make(member: dict[str, Any] = member, plan: dict[str, list[str]] = plan) -> Any:
            family, _, model = build_model(member, seed)
            return Pipeline([("prep", build_preprocessor(plan, member, family, seed)), ("model", model)])

        if i == 0:
            log(f"train rows={len(x_train)} features={len(used_columns(plan))} (numeric={len(plan['numeric'])}, "
                f"categorical={len(plan['categorical'])}) date={len(plan['date'])} "
                f"high_cardinality={len(plan['high'])}")
        log(f"{prefix}feature plan: {json.dumps(describe_plan(plan, family))}")
        log(f"{prefix}model={family} params={hp} preprocessing={preprocessing}")
        fit_params = {}
        if family == "lightgbm" and plan["high"]:
            fit_params["model__categorical_feature"] = list(range(len(plan["high"])))  # first in the transformer
        prepared.append((prefix, plan, x_train, make, fit_params))

    if fit is not None:
        weights = fitted_weights(prepared, train, y, fit, seed)
    fitted: list[tuple[dict[str, list[str]], Any]] = []
    kept_weights = []
    for (prefix, plan, x_train, make, fit_params), weight in zip(prepared, weights):
        if weight <= 0:
            continue  # a member fit_weights never picked is not fitted at all
        pipeline = make()
        fit_started = time.monotonic()
        pipeline.fit(x_train, y, **fit_params)
        log(f"{prefix}fit {time.monotonic() - fit_started:.1f}s")
        fitted.append((plan, pipeline))
        kept_weights.append(weight)
    weights = np.asarray(kept_weights) / np.sum(kept_weights)

    output_dir.mkdir(parents=True, exist_ok=True)
    # The columns the models used: Ratchet checks them against the leakage scan of `ratchet init`.
    used: list[str] = []
    for plan, _ in fitted:
        used += [c for c in used_columns(plan) if c not in used]
    (output_dir / "features.json").write_text(json.dumps(used))
    classes = [str(c) for c in fitted[0][1].classes_] if TASK != "regression" else []
    if TASK != "regression" and any([str(c) for c in p.classes_] != classes for _, p in fitted[1:]):
        fail("the ensemble's members learned different classes")
    # Every class of the target (Ratchet passes them), so a class unseen in training still gets a column.
    all_classes = json.loads(os.environ.get("RATCHET_CLASSES", "[]"))
    for name, path in (("public", public_path), ("private", private_path)):
        holdout = read_csv(path, with_target=False)
        outputs = []
        for plan, pipeline in fitted:
            x = features(holdout, plan, path)
            outputs.append(pipeline.predict(x).astype(float) if TASK == "regression" else pipeline.predict_proba(x))
        # The weighted average of the members' probabilities (regression: values); one model: its own output.
        averaged = np.tensordot(weights, np.stack(outputs), axes=1)
        result = pd.DataFrame({ID: holdout[ID].to_numpy()})
        if TASK == "binary":
            positive = classes.index("1")
            result["prediction"] = np.clip(averaged[:, positive], 0.0, 1.0)
        elif TASK == "multiclass":
            result["prediction"] = [classes[i] for i in np.argmax(averaged, axis=1)]
            for j, label in enumerate(classes):
                result[f"proba_{label}"] = np.clip(averaged[:, j], 0.0, 1.0)
            for label in all_classes:
                if f"proba_{label}" not in result.columns:
                    result[f"proba_{label}"] = 0.0
        else:
            result["prediction"] = averaged
        out = write_predictions(result, output_dir, name)
        log(f"wrote {out} ({len(result)} rows)")
    log(f"elapsed {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
