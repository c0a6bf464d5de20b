"""scikit-learn side of the metric benchmark (bench/metrics.ts).

Usage: python bench/metrics_sklearn.py DATA_DIR N [N ...]

Reads the arrays bench/metrics.ts wrote for each N (raw little-endian: y_N.u8, p_N.f64,
ry_N.f64, rp_N.f64, and the ranking workload qy_N.f64, qp_N.f64, qq_N.i32), times roc_auc_score,
log_loss, root_mean_squared_error, average_precision_score and ndcg_score(k=10) the same way the
Node side does (one warm-up call, then the median of three `time.perf_counter()` timings around
the call), and prints one JSON object on stdout:
{"sklearn": "1.9.1", "numpy": "...", "results": {"auroc": {"N": {"ms": ..., "value": ...}}, ...}}
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, log_loss, ndcg_score, roc_auc_score, root_mean_squared_error


def timed(fn) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    value = float("nan")
    for _ in range(3):
        t0 = time.perf_counter()
        value = float(fn())
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), value


def main() -> None:
    data = Path(sys.argv[1])
    sizes = [int(a) for a in sys.argv[2:]]
    names = ("auroc", "log_loss", "rmse", "average_precision", "ndcg@10")
    results: dict[str, dict[str, dict[str, float]]] = {m: {} for m in names}
    for n in sizes:
        y = np.fromfile(data / f"y_{n}.u8", dtype=np.uint8)
        p = np.fromfile(data / f"p_{n}.f64", dtype="<f8")
        ry = np.fromfile(data / f"ry_{n}.f64", dtype="<f8")
        rp = np.fromfile(data / f"rp_{n}.f64", dtype="<f8")
        assert len(y) == len(p) == len(ry) == len(rp) == n
        qq = np.fromfile(data / f"qq_{n}.i32", dtype="<i4")
        # ndcg_score takes a (queries, items) matrix: group the rows by query outside the timing.
        order = np.argsort(qq, kind="stable")
        q = int(qq.max()) + 1
        qy = np.fromfile(data / f"qy_{n}.f64", dtype="<f8")[order].reshape(q, -1)
        qp = np.fromfile(data / f"qp_{n}.f64", dtype="<f8")[order].reshape(q, -1)
        for name, fn in (
            ("auroc", lambda: roc_auc_score(y, p)),
            ("log_loss", lambda: log_loss(y, p)),
            ("rmse", lambda: root_mean_squared_error(ry, rp)),
            ("average_precision", lambda: average_precision_score(y, p)),
            ("ndcg@10", lambda: ndcg_score(qy, qp, k=10)),
        ):
            ms, value = timed(fn)
            results[name][str(n)] = {"ms": ms, "value": value}
    print(json.dumps({"sklearn": sklearn.__version__, "numpy": np.__version__, "results": results}))


if __name__ == "__main__":
    main()
