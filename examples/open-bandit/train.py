#!/usr/bin/env python3
"""A policy learner for the open-bandit example: learns from logged clicks which items to show, and writes the
policy (a probability for every item in every holdout impression) for Ratchet to evaluate off-policy.

How Ratchet runs it: `python train.py` in a sandbox, cwd = the project's worktree (read-only), with
  RATCHET_TRAIN_PARQUET    the training logs: context features, item_id (the logged action), propensity_score, click
  RATCHET_PUBLIC_PARQUET   public holdout impressions: context features only (no item, no propensity, no click)
  RATCHET_PRIVATE_PARQUET  private holdout impressions, likewise
  RATCHET_OUTPUT           the only writable folder: public.parquet and private.parquet go there
  RATCHET_SEED             integer seed
By hand (no RATCHET_* variables) it reads .ratchet/data/ and writes to .ratchet/manual-output/.

Each predictions file has the id column `impression_id` and one column `proba_<item>` per item (80), each row a
probability distribution (summing to 1). Ratchet estimates the click rate of that policy on the holdout's hidden
logs with the doubly robust estimator (and reports IPS, SNIPS, DM, SNDR and Switch-DR next to it).

params.yaml (the search proposer rewrites it):
  model        ctr | ctr_position | logistic
  smoothing    prior strength (pseudo-impressions) of the smoothed click rates
  temperature  softmax temperature over predicted click rates divided by their mean (small = greedy)
  epsilon      share of the probability spread uniformly over all items (exploration)
  C            logistic only: inverse regularization strength
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

N_JOBS = max(1, int(os.environ.get("RATCHET_THREADS", "2")))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(N_JOBS))

import numpy as np
import pandas as pd
import yaml

ID = "impression_id"
ACTION = "item_id"
PROPENSITY = "propensity_score"
REWARD = "click"
POSITION = "position"
N_ACTIONS = 80


def paths() -> tuple[Path, Path, Path, Path]:
    data = Path(".ratchet/data")
    return (
        Path(os.environ.get("RATCHET_TRAIN_PARQUET", data / "train.parquet")),
        Path(os.environ.get("RATCHET_PUBLIC_PARQUET", data / "public_features.parquet")),
        Path(os.environ.get("RATCHET_PRIVATE_PARQUET", data / "private_features.parquet")),
        Path(os.environ.get("RATCHET_OUTPUT", ".ratchet/manual-output")),
    )


def smoothed_rates(clicks: np.ndarray, shows: np.ndarray, prior_rate: float, strength: float) -> np.ndarray:
    """Posterior mean click rates under a Beta prior with mean `prior_rate` and `strength` pseudo-impressions."""
    return (clicks + prior_rate * strength) / (shows + strength)


def context_matrix(frame: pd.DataFrame, levels: dict[str, list[str]]) -> np.ndarray:
    """One-hot user features and the position (levels fitted on the training logs)."""
    cols = []
    for c, values in levels.items():
        v = frame[c].astype(str).to_numpy()
        cols.append(np.stack([(v == x).astype(float) for x in values], axis=1))
    return np.concatenate(cols, axis=1) if cols else np.zeros((len(frame), 0))


def predict_rates(params: dict, train: pd.DataFrame, holdout: pd.DataFrame) -> np.ndarray:
    """Predicted click rate of every item for every holdout impression, shape (n, 80)."""
    a = train[ACTION].astype(int).to_numpy()
    r = train[REWARD].astype(float).to_numpy()
    overall = (r.sum() + 1.0) / (len(r) + 2.0)
    strength = float(params.get("smoothing", 200))
    model = params.get("model", "ctr")
    n = len(holdout)
    if model == "ctr":
        clicks = np.bincount(a, weights=r, minlength=N_ACTIONS)
        shows = np.bincount(a, minlength=N_ACTIONS).astype(float)
        return np.tile(smoothed_rates(clicks, shows, overall, strength), (n, 1))
    if model == "ctr_position":
        out = np.empty((n, N_ACTIONS))
        item_clicks = np.bincount(a, weights=r, minlength=N_ACTIONS)
        item_shows = np.bincount(a, minlength=N_ACTIONS).astype(float)
        item_rate = smoothed_rates(item_clicks, item_shows, overall, strength)
        pos = train[POSITION].astype(int).to_numpy()
        hpos = holdout[POSITION].astype(int).to_numpy()
        for p in np.unique(hpos):
            m = pos == p
            clicks = np.bincount(a[m], weights=r[m], minlength=N_ACTIONS)
            shows = np.bincount(a[m], minlength=N_ACTIONS).astype(float)
            out[hpos == p] = smoothed_rates(clicks, shows, item_rate, strength)
        return out
    if model == "logistic":
        from sklearn.linear_model import LogisticRegression

        user = [c for c in train.columns if c.startswith("user_feature_")] + [POSITION]
        levels = {c: sorted(train[c].astype(str).unique().tolist()) for c in user}
        x = context_matrix(train, levels)
        # the logged item's affinity to the user, and which item it was
        aff = np.array([train[f"user-item_affinity_{i}"].to_numpy() for i in range(N_ACTIONS)]).T
        rows = np.arange(len(train))
        features = np.concatenate([x, aff[rows, a][:, None], np.eye(N_ACTIONS)[a]], axis=1)
        clf = LogisticRegression(C=float(params.get("C", 0.1)), max_iter=2000)
        clf.fit(features, r.astype(int))
        hx = context_matrix(holdout, levels)
        haff = np.array([holdout[f"user-item_affinity_{i}"].to_numpy() for i in range(N_ACTIONS)]).T
        out = np.empty((n, N_ACTIONS))
        for j in range(N_ACTIONS):
            f = np.concatenate([hx, haff[:, j][:, None], np.tile(np.eye(N_ACTIONS)[j], (n, 1))], axis=1)
            out[:, j] = clf.predict_proba(f)[:, 1]
        return out
    sys.exit(f"params.yaml: unknown model {model!r} (use ctr, ctr_position or logistic)")


def policy_from_rates(rates: np.ndarray, temperature: float, epsilon: float) -> np.ndarray:
    """Softmax over rates / mean rate at `temperature`, mixed with the uniform policy by `epsilon`."""
    z = rates / max(float(rates.mean()), 1e-12) / max(temperature, 1e-6)
    z -= z.max(axis=1, keepdims=True)
    soft = np.exp(z)
    soft /= soft.sum(axis=1, keepdims=True)
    pi = (1.0 - epsilon) * soft + epsilon / rates.shape[1]
    return pi / pi.sum(axis=1, keepdims=True)


def main() -> None:
    params = yaml.safe_load(Path("params.yaml").read_text()) or {}
    train_path, public_path, private_path, out = paths()
    out.mkdir(parents=True, exist_ok=True)
    train = pd.read_parquet(train_path)
    for name, path in (("public", public_path), ("private", private_path)):
        holdout = pd.read_parquet(path)
        rates = predict_rates(params, train, holdout)
        pi = policy_from_rates(rates, float(params.get("temperature", 1.0)), float(params.get("epsilon", 0.5)))
        frame = pd.DataFrame(pi, columns=[f"proba_{i}" for i in range(N_ACTIONS)])
        frame.insert(0, ID, holdout[ID].to_numpy())
        frame.to_parquet(out / f"{name}.parquet", index=False)
        print(f"[train] {name}: {len(frame)} impressions, largest item probability {pi.max():.3f}")


if __name__ == "__main__":
    main()
