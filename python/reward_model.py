"""The reward model q(x, a) of a bandit task, fitted by Ratchet on the training split at `ratchet init`.

Direct method (DM) and the doubly robust family (DR, SNDR, Switch-DR) need an estimate q(x, a) of the reward
of every action a in every holdout context x (Dudik, Langford & Li 2011, "Doubly Robust Policy Evaluation and
Learning", eq. 2; Saito et al. 2021, "Open Bandit Dataset and Pipeline", section 3). Ratchet fits it once, on
the training split's logs only (context features, the logged action, the reward), OUTSIDE the sandbox, and
keeps its predictions for the holdout contexts in the vault: a candidate policy never sees or shapes it, so a
keep cannot come from a reward model tuned to the holdout.

Features: every context column of the holdout feature files except the id (numbers standardized with missing
values as 0 plus an indicator; text one-hot with rare values pooled), one-hot of the action, and the products
of the numeric context features with the action one-hot when that stays under 20,000 columns (so q can rank
actions differently in different contexts). Model: logistic regression for 0/1 rewards, ridge otherwise
(`auto`), scikit-learn.

Usage (Ratchet runs it; argv is one JSON object):
  python reward_model.py '{"train": ..., "public": ..., "private": ..., "out_dir": ..., "id": ...,
                           "target": ..., "action": ..., "propensity": ..., "actions": [...], "kind": "auto"}'
Writes <out_dir>/qhat_public.parquet and qhat_private.parquet: the id column `id` (text) and one DOUBLE column
`q__<action>` per action, rows in the holdout files' order; prints one JSON line with what it fitted.
"""

import json
import sys

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression, Ridge

MAX_INTERACTIONS = 20000
MIN_LEVEL = 5


def design(frame, cols, fitted=None):
    """Sparse design matrix of the context columns; `fitted` carries the training split's encodings."""
    if fitted is None:
        fitted = {"num": {}, "cat": {}, "missing": {}}
        for c in cols:
            s = frame[c]
            if pd.api.types.is_numeric_dtype(s):
                v = s.astype(float)
                sd = float(v.std()) if v.notna().sum() > 1 else 0.0
                fitted["num"][c] = (float(v.mean()) if v.notna().any() else 0.0, sd if sd > 0 else 1.0)
                fitted["missing"][c] = bool(v.isna().any())
            else:
                counts = s.astype(str).value_counts()
                fitted["cat"][c] = sorted(counts[counts >= MIN_LEVEL].index.tolist())
    blocks = []
    numeric = []
    for c, (m, sd) in fitted["num"].items():
        v = frame[c].astype(float)
        z = ((v - m) / sd).fillna(0.0).to_numpy()
        numeric.append(z)
        if fitted["missing"][c]:
            numeric.append(frame[c].isna().to_numpy(dtype=float))
    num = np.column_stack(numeric) if numeric else np.zeros((len(frame), 0))
    blocks.append(sparse.csr_matrix(num))
    for c, levels in fitted["cat"].items():
        index = {v: i for i, v in enumerate(levels)}
        codes = frame[c].astype(str).map(lambda v: index.get(v, len(levels))).to_numpy()
        blocks.append(sparse.csr_matrix((np.ones(len(frame)), (np.arange(len(frame)), codes)), shape=(len(frame), len(levels) + 1)))
    return sparse.hstack(blocks, format="csr"), num, fitted


def with_action(ctx, num, action_codes, k, interact):
    """The context design, one-hot of the action and (optionally) numeric context x action products."""
    n = ctx.shape[0]
    onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), action_codes)), shape=(n, k))
    blocks = [ctx, onehot]
    if interact and num.shape[1] > 0:
        d = num.shape[1]
        rows = np.repeat(np.arange(n), d)
        cols = (action_codes[:, None] * d + np.arange(d)[None, :]).ravel()
        blocks.append(sparse.csr_matrix((num.ravel(), (rows, cols)), shape=(n, k * d)))
    return sparse.hstack(blocks, format="csr")


def main():
    args = json.loads(sys.argv[1])
    train = pd.read_parquet(args["train"])
    actions = [str(a) for a in args["actions"]]
    k = len(actions)
    code = {a: i for i, a in enumerate(actions)}
    skip = {args["id"], args["target"], args["action"], args["propensity"]}
    holdouts = {name: pd.read_parquet(args[name]) for name in ("public", "private")}
    cols = [c for c in holdouts["public"].columns if c not in skip]
    y = train[args["target"]].astype(float).to_numpy()
    kind = args.get("kind", "auto")
    if kind == "auto":
        kind = "logistic" if set(np.unique(y)).issubset({0.0, 1.0}) else "ridge"
    if kind == "logistic" and len(np.unique(y)) < 2:
        kind = "constant"
    a = train[args["action"]].astype(str).map(code).to_numpy()
    ctx, num, fitted = design(train, cols)
    interact = num.shape[1] * k <= MAX_INTERACTIONS
    X = with_action(ctx, num, a, k, interact)
    if kind == "logistic":
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(X, y.astype(int))
    elif kind == "ridge":
        model = Ridge(alpha=1.0)
        model.fit(X, y)
    else:
        model = None
    for name, frame in holdouts.items():
        hctx, hnum, _ = design(frame, cols, fitted)
        n = len(frame)
        q = np.empty((n, k))
        for j in range(k):
            if model is None:
                q[:, j] = float(y.mean())
                continue
            Xj = with_action(hctx, hnum, np.full(n, j), k, interact)
            q[:, j] = model.predict_proba(Xj)[:, 1] if kind == "logistic" else model.predict(Xj)
        out = pd.DataFrame({"id": frame[args["id"]].astype(str).to_numpy()})
        out = pd.concat([out, pd.DataFrame(q, columns=[f"q__{x}" for x in actions])], axis=1)
        out.to_parquet(f"{args['out_dir']}/qhat_{name}.parquet", index=False)
    print(json.dumps({"kind": kind, "features": int(X.shape[1]), "interactions": bool(interact), "rows": int(len(train))}))


if __name__ == "__main__":
    main()
