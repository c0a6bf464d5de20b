#!/usr/bin/env python3
"""Public datasets of the proposer benchmark, written as CSV: `python datasets.py <name> <out.csv>`.

Each comes inside a package from PyPI (no download at run time), so the benchmark runs offline:
  fair     statsmodels `fair` (Fair 1978, affairs survey; 6,366 rows): binary target `affair` = affairs > 0,
           rows repeating an earlier row's features dropped (4,829 rows left)
  randhie  statsmodels `randhie` (RAND Health Insurance Experiment; 20,190 person-years): regression target
           `mdvis`, averaged over the rows sharing the same covariates (the panel's years of one person: 2,760 rows)
  digits   scikit-learn `load_digits` (UCI optical digits, test set; 1,797 rows, 64 pixels): multiclass `digit`
Why the two reductions: `ratchet init` blocks a split whose holdouts repeat more than 5 % of train rows in every
feature (a model would score them by memory), and both statsmodels tables repeat feature rows heavily (fair 24 %,
randhie 86 %), so a split of them is refused. Dropping (fair) or collapsing (randhie) the repeats makes every
feature row unique.
Prints one JSON line: {"name", "rows", "target", "task"}.
"""

from __future__ import annotations

import json
import sys


def main(name: str, out: str) -> None:
    if name == "fair":
        import statsmodels.api as sm

        frame = sm.datasets.fair.load_pandas().data
        frame["affair"] = (frame.pop("affairs") > 0).astype(int)
        frame = frame.drop_duplicates(subset=[c for c in frame.columns if c != "affair"]).reset_index(drop=True)
        target, task = "affair", "binary"
    elif name == "randhie":
        import statsmodels.api as sm

        frame = sm.datasets.randhie.load_pandas().data
        covariates = [c for c in frame.columns if c != "mdvis"]
        frame = frame.groupby(covariates, as_index=False, sort=False)["mdvis"].mean()
        target, task = "mdvis", "regression"
    elif name == "digits":
        import pandas as pd
        from sklearn.datasets import load_digits

        bunch = load_digits()
        frame = pd.DataFrame(bunch.data.astype(int), columns=[f"px{i}" for i in range(bunch.data.shape[1])])
        frame["digit"] = [f"d{v}" for v in bunch.target]
        target, task = "digit", "multiclass"
    else:
        raise SystemExit(f"unknown dataset {name!r}: use fair, randhie or digits")
    frame.to_csv(out, index=False)
    print(json.dumps({"name": name, "rows": len(frame), "target": target, "task": task}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: datasets.py <fair|randhie|digits> <out.csv>")
    main(sys.argv[1], sys.argv[2])
