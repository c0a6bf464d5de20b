"""Reference statistics for the leakage scanner's tests, computed with scikit-learn and scipy.

usage: python sklearn_stats.py TRAIN_CSV ID TARGET TASK [POSITIVE]
prints JSON {column: {"auroc": ..., "pearson": ..., "spearman": ...}} for the numeric feature columns of the train split
(AUROC oriented: max(a, 1 - a); multiclass: mean over classes of the oriented one-vs-rest AUROC).
"""
import json
import sys

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import roc_auc_score

path, id_col, target, task = sys.argv[1:5]
positive = sys.argv[5] if len(sys.argv) > 5 else None
df = pd.read_csv(path, dtype={target: str} if task != "regression" else None)
y = df.pop(target)
df.pop(id_col)
out = {}
for col in df.columns:
    x = df[col]
    if not pd.api.types.is_numeric_dtype(x) or x.isna().any():
        continue
    if task == "binary":
        a = roc_auc_score(y == positive, x)
        out[col] = {"auroc": max(a, 1 - a)}
    elif task == "multiclass":
        each = [roc_auc_score(y == c, x) for c in sorted(y.unique())]
        out[col] = {"auroc": float(np.mean([max(a, 1 - a) for a in each]))}
    else:
        out[col] = {"pearson": abs(pearsonr(x, y)[0]), "spearman": abs(spearmanr(x, y)[0])}
print(json.dumps(out))
