#!/usr/bin/env python3
"""The production policy of the Open Bandit Dataset's other log: Bernoulli Thompson Sampling (BTS), as a policy file.

ZOZOTOWN ran two policies at once: uniform random (the logs this example learns from) and BTS, whose own logs give
its true click rate on-policy (bts_truth.json). Writing BTS's action distribution as a candidate policy lets Ratchet's
off-policy estimators be checked against that truth: `npm run bench -- ope` runs this script and compares.

BTS is context-free: it samples a click rate for each item from Beta(alpha, beta) (its prior, bts_truth.json's
`bts_prior`, from obp 0.4.1 `obp/policy/conf/prior_bts.yaml`) and shows the 3 items with the largest samples in
positions 1, 2 and 3. Its action distribution per position is estimated by Monte Carlo, as obp's
`BernoulliTS(is_zozotown_prior=True, campaign="all").compute_batch_action_dist(n_sim=100000)` does (the same
100,000 simulations; a different random stream, so the frequencies agree to Monte Carlo error, about 0.002).

Usage: python bts_policy.py [--sims 100000] [--seed 12345]  (reads the split as train.py does; writes the same files)
       python bts_policy.py --campaign men --dist-json  (prints the action distribution of a campaign's BTS as JSON:
       one list per item of its probability in positions 1, 2, 3; bts_truth.json's `campaigns` hold the priors)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

N_ACTIONS = 80
LEN_LIST = 3


def bts_action_dist(alpha: np.ndarray, beta: np.ndarray, sims: int, seed: int) -> np.ndarray:
    """Share of simulations in which each item is shown at each position: shape (80, 3), columns sum to 1."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((len(alpha), LEN_LIST))
    for start in range(0, sims, 10000):
        m = min(10000, sims - start)
        theta = rng.beta(alpha, beta, size=(m, len(alpha)))
        top = np.argsort(-theta, axis=1)[:, :LEN_LIST]
        for pos in range(LEN_LIST):
            counts[:, pos] += np.bincount(top[:, pos], minlength=len(alpha))
    return counts / sims


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--campaign", choices=["all", "men", "women"], default="all")
    ap.add_argument("--dist-json", action="store_true")
    args = ap.parse_args()
    here = Path(__file__).resolve().parent
    truth = json.loads((here / "bts_truth.json").read_text())
    prior = truth["campaigns"][args.campaign]["bts_prior"] if args.campaign != "all" else truth["bts_prior"]
    dist = bts_action_dist(np.array(prior["alpha"]), np.array(prior["beta"]), args.sims, args.seed)
    if args.dist_json:
        print(json.dumps(dist.tolist()))
        return
    data = Path(".ratchet/data")
    out = Path(os.environ.get("RATCHET_OUTPUT", ".ratchet/manual-output"))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("public", "private"):
        holdout = pd.read_parquet(Path(os.environ.get(f"RATCHET_{name.upper()}_PARQUET", data / f"{name}_features.parquet")))
        pos = holdout["position"].astype(int).to_numpy() - 1  # positions 1..3
        pi = dist[:, pos].T
        frame = pd.DataFrame(pi / pi.sum(axis=1, keepdims=True), columns=[f"proba_{i}" for i in range(N_ACTIONS)])
        frame.insert(0, "impression_id", holdout["impression_id"].to_numpy())
        frame.to_parquet(out / f"{name}.parquet", index=False)
    print(json.dumps({"sims": args.sims, "seed": args.seed, "top_item_share": float(dist.max())}))


if __name__ == "__main__":
    main()
