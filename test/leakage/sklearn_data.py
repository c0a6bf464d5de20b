"""Write scikit-learn's bundled real datasets as CSV files (for the leakage scanner's tests).

usage: python sklearn_data.py OUT_DIR
"""
import sys
from pathlib import Path

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

bc = load_breast_cancer(as_frame=True)
df = bc.data.copy()
df["diagnosis"] = [bc.target_names[t] for t in bc.target]
df.to_csv(out / "breast_cancer.csv", index=False)

wine = load_wine(as_frame=True)
df = wine.data.copy()
df["cultivar"] = [wine.target_names[t] for t in wine.target]
df.to_csv(out / "wine.csv", index=False)

diab = load_diabetes(as_frame=True)
df = diab.data.copy()
df["progression"] = diab.target
df.to_csv(out / "diabetes.csv", index=False)
