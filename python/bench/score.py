"""Scoring shared by the proposer benchmark's baselines (`npm run bench -- proposer`).

Reads a Ratchet project's contract (ratchet.yaml), its holdout labels (.ratchet/vault/{public,private}.parquet,
columns `id` and `label`, both text) and a predictions file in the scaffold's format (CSV or Parquet:
`<id>,prediction` plus `proba_<label>` columns for multiclass), and scores them with scikit-learn, the
reference Ratchet's metric engine is tested against. Only the primary metrics the scaffold chooses are
supported: auroc (binary), log_loss (multiclass), rmse (regression), plus accuracy and mae.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

#: Direction of each supported primary metric.
DIRECTIONS = {"auroc": "maximize", "log_loss": "minimize", "rmse": "minimize", "mae": "minimize", "accuracy": "maximize"}


def load_contract(project: Path) -> dict[str, Any]:
    """The project's ratchet.yaml as a dict, with the fields the benchmark needs checked; a binary task's
    data.positive_class is filled from split.json when the contract leaves it out."""
    with open(project / "ratchet.yaml", encoding="utf-8") as fh:
        contract = yaml.safe_load(fh)
    if contract["task"] == "binary" and contract["data"].get("positive_class") is None:
        contract["data"]["positive_class"] = positive_class(contract, project)
    metric = contract["metric"]["primary"]
    if metric not in DIRECTIONS:
        raise SystemExit(f"{project}/ratchet.yaml: metric.primary {metric!r} is not supported by the benchmark")
    return contract


def split_info(project: Path) -> dict[str, Any]:
    """What `ratchet init` recorded about the split (.ratchet/data/split.json): idColumn, targetColumn,
    positiveClass (binary), classes, counts. The id column is there even when Ratchet generated it (`row_id`)."""
    path = project / ".ratchet" / "data" / "split.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `ratchet init` in {project} first")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def positive_class(contract: dict[str, Any], project: Path | None = None) -> str:
    """The binary task's positive label as text: ratchet.yaml's data.positive_class, else split.json's."""
    if contract["data"].get("positive_class") is not None:
        return str(contract["data"]["positive_class"])
    if project is not None and split_info(project).get("positiveClass") is not None:
        return str(split_info(project)["positiveClass"])
    raise SystemExit("ratchet.yaml has no data.positive_class: set it (the label scored as positive)")


def labels(project: Path, holdout: str) -> pd.DataFrame:
    """Hidden labels of one holdout ('public' | 'private'): columns id, label (text)."""
    return pd.read_parquet(project / ".ratchet" / "vault" / f"{holdout}.parquet").astype({"id": str})


def read_file(path: Path) -> pd.DataFrame:
    """One predictions file (Parquet by its suffix, else CSV), its first column renamed `id`, ids as text."""
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={0: str}, low_memory=False)
    first = frame.columns[0]
    return frame.rename(columns={first: "id"}).astype({"id": str})


def read_predictions(folder: Path, holdout: str) -> pd.DataFrame:
    """The predictions file `<holdout>.parquet` or `<holdout>.csv` in folder, ids as text."""
    parquet, csv = folder / f"{holdout}.parquet", folder / f"{holdout}.csv"
    if parquet.exists():
        return read_file(parquet)
    if csv.exists():
        return read_file(csv)
    raise FileNotFoundError(f"no {holdout}.parquet or {holdout}.csv in {folder}")


def aligned(contract: dict[str, Any], truth: pd.DataFrame, predicted: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The holdout's labels and the predictions the primary metric reads, row by row in the holdout's order
    (aligned by id): (y, p, classes). Binary: y is a boolean array (the positive class), p the scores (or the
    predicted labels' scores for accuracy); multiclass log_loss: y the labels as text, p an n × k matrix of
    probabilities renormalised per row, classes the k labels; multiclass accuracy: p the predicted labels;
    regression: y and p floats.
    Raises ValueError when predictions miss holdout ids, SystemExit for an unsupported metric."""
    merged = truth.merge(predicted, on="id", how="left", validate="one_to_one")
    if merged["prediction"].isna().any():
        raise ValueError("predictions miss holdout ids")
    metric = contract["metric"]["primary"]
    task = contract["task"]
    if task == "binary" and metric in ("auroc", "accuracy"):
        positive = positive_class(contract)
        y = (merged["label"].astype(str) == positive).to_numpy()
        return y, merged["prediction"].astype(float).to_numpy(), []
    if task == "multiclass" and metric == "log_loss":
        classes = sorted(set(merged["label"].astype(str).unique().tolist() + [
            c[len("proba_"):] for c in merged.columns if c.startswith("proba_")
        ]))
        proba = np.column_stack([
            merged[f"proba_{c}"].astype(float).to_numpy() if f"proba_{c}" in merged else np.zeros(len(merged))
            for c in classes
        ])
        proba = proba / proba.sum(axis=1, keepdims=True)
        return merged["label"].astype(str).to_numpy(), proba, classes
    if task == "multiclass" and metric == "accuracy":
        return merged["label"].astype(str).to_numpy(), merged["prediction"].astype(str).to_numpy(), []
    if task == "regression" and metric in ("rmse", "mae"):
        return merged["label"].astype(float).to_numpy(), merged["prediction"].astype(float).to_numpy(), []
    raise SystemExit(f"metric {metric!r} is not supported for task {task!r} by the benchmark")


def metric_value(contract: dict[str, Any], y: np.ndarray, p: np.ndarray, classes: list[str]) -> float:
    """The primary metric of aligned labels and predictions (see `aligned`), by scikit-learn. Binary accuracy
    predicts the positive class at p > 0.5, as scikit-learn's `predict` does."""
    from sklearn import metrics

    metric = contract["metric"]["primary"]
    if metric == "auroc":
        return float(metrics.roc_auc_score(y, p))
    if metric == "log_loss":
        return float(metrics.log_loss(y, p, labels=classes))
    if metric == "accuracy":
        return float(metrics.accuracy_score(y, p > 0.5 if contract["task"] == "binary" else p))
    if metric == "rmse":
        return math.sqrt(metrics.mean_squared_error(y, p))
    if metric == "mae":
        return float(metrics.mean_absolute_error(y, p))
    raise SystemExit(f"metric {metric!r} is not supported by the benchmark")


def score(contract: dict[str, Any], truth: pd.DataFrame, predicted: pd.DataFrame) -> float:
    """The primary metric of predictions against the holdout's labels (rows aligned by id)."""
    return metric_value(contract, *aligned(contract, truth, predicted))
