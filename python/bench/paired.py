#!/usr/bin/env python3
"""Paired comparison of two methods' picks on one holdout, for the proposer benchmark's table.

`python paired.py --project DIR --a FILE --b FILE [--holdout private] [--resamples 2000] [--seed 0]`

Both prediction files (the scaffold's format, CSV or Parquet) are scored against the same holdout rows, so
their difference is paired: delta = metric(a) - metric(b) in the metric's own units (positive means `a` is
higher, which is better for auroc and accuracy, worse for log_loss, rmse and mae). Its 95 % interval is the
percentile interval of the paired bootstrap (Efron & Tibshirani 1993, ch. 13): each resample draws the holdout's
rows with replacement, the same rows for both methods, and scores both. A resample where the metric is
undefined (AUROC on one class) is drawn again. An interval that holds 0 says the holdout cannot tell the two
picks apart. Prints one JSON line: {"metric", "a", "b", "delta", "low", "high", "resamples", "rows"}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import aligned, labels, load_contract, metric_value, read_file  # noqa: E402


def paired(project: Path, a: Path, b: Path, holdout: str, resamples: int, seed: int) -> dict:
    """The paired difference metric(a) - metric(b) on one holdout and its 95 % percentile bootstrap interval."""
    contract = load_contract(project)
    truth = labels(project, holdout)
    ya, pa, ca = aligned(contract, truth, read_file(a))
    yb, pb, cb = aligned(contract, truth, read_file(b))
    if ca != cb:
        classes = sorted(set(ca) | set(cb))
        raise SystemExit(f"the two files name different classes ({ca} vs {cb}); expected {classes} in both")
    value_a = metric_value(contract, ya, pa, ca)
    value_b = metric_value(contract, yb, pb, cb)
    rng = np.random.default_rng(seed)
    n = len(ya)
    deltas = []
    while len(deltas) < resamples:
        idx = rng.integers(0, n, n)
        try:
            d = metric_value(contract, ya[idx], pa[idx], ca) - metric_value(contract, yb[idx], pb[idx], cb)
        except ValueError:
            continue  # undefined on this resample (one class only): draw again
        if np.isfinite(d):
            deltas.append(d)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {
        "metric": contract["metric"]["primary"],
        "a": value_a,
        "b": value_b,
        "delta": value_a - value_b,
        "low": float(low),
        "high": float(high),
        "resamples": resamples,
        "rows": n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--a", required=True, type=Path, help="predictions of the first pick")
    ap.add_argument("--b", required=True, type=Path, help="predictions of the second pick")
    ap.add_argument("--holdout", default="private", choices=["public", "private"])
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.resamples < 100:
        raise SystemExit("--resamples must be at least 100")
    for f in (args.a, args.b):
        if not f.is_file():
            raise SystemExit(f"{f}: no such predictions file")
    project = args.project.resolve()
    for need in (project / "ratchet.yaml", project / ".ratchet" / "vault" / f"{args.holdout}.parquet"):
        if not need.is_file():
            raise SystemExit(f"{need} is missing: --project must be a Ratchet project after `ratchet init`")
    try:
        result = paired(project, args.a, args.b, args.holdout, args.resamples, args.seed)
    except (ValueError, KeyError) as e:
        # Unreadable or incomplete predictions (missing holdout ids, no prediction column): one line, no trace.
        raise SystemExit(f"{args.a} / {args.b}: cannot be compared on the {args.holdout} holdout: {e}") from None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
