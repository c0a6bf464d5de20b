#!/usr/bin/env python3
"""AutoGluon's `medium_quality` preset on a Ratchet project's splits: a baseline of `npm run bench -- proposer`.

`python autogluon_medium.py --project DIR --budget SECONDS --out result.json`

Fits `TabularPredictor(...).fit(train, presets="medium_quality", time_limit=budget)` on the project's train
split (AutoGluon holds out its own validation rows from it; it never sees the public labels), predicts both
holdouts, and scores them with scikit-learn (score.py). Writes one JSON object to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import labels, load_contract, positive_class, score, split_info  # noqa: E402

EVAL_METRIC = {"auroc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error",
               "mae": "mean_absolute_error", "accuracy": "accuracy"}


def main() -> None:
    from autogluon.tabular import TabularPredictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--budget", required=True, type=float)
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args()
    project = a.project.resolve()
    contract = load_contract(project)
    info = split_info(project)
    task, target, id_col = contract["task"], info["targetColumn"], info["idColumn"]
    data = project / ".ratchet" / "data"
    text = {id_col: str} if task == "regression" else {id_col: str, target: str}
    train = pd.read_csv(data / "train.csv", dtype=text, low_memory=False).drop(columns=[id_col])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ratchet-bench-ag-") as path:
        predictor = TabularPredictor(label=target, problem_type=task, eval_metric=EVAL_METRIC[contract["metric"]["primary"]],
                                     path=path, verbosity=0)
        predictor.fit(train, presets="medium_quality", time_limit=a.budget)
        scores = {}
        for holdout in ("public", "private"):
            frame = pd.read_csv(data / f"{holdout}.csv", dtype={id_col: str}, low_memory=False)
            features = frame.drop(columns=[id_col])
            out = pd.DataFrame({"id": frame[id_col].astype(str)})
            if task == "binary":
                positive = positive_class(contract, project)
                proba = predictor.predict_proba(features)
                out["prediction"] = proba[positive].to_numpy() if positive in proba else proba.iloc[:, -1].to_numpy()
            elif task == "multiclass":
                proba = predictor.predict_proba(features)
                out["prediction"] = predictor.predict(features).astype(str).to_numpy()
                for c in proba.columns:
                    out[f"proba_{c}"] = np.clip(proba[c].to_numpy(), 0, 1)
            else:
                out["prediction"] = predictor.predict(features).to_numpy()
            scores[holdout] = score(contract, labels(project, holdout), out)
        models = len(predictor.model_names())
    result = {"method": "autogluon-medium_quality", "metric": contract["metric"]["primary"],
              "seconds": round(time.monotonic() - started, 1), "models": models, **scores}
    a.out.write_text(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
