#!/usr/bin/env python3
"""Optuna TPE alone on a Ratchet project's search space: a baseline of `npm run bench -- proposer`.

`python optuna_alone.py --project DIR --budget SECONDS --out result.json [--seed N]`

What a user would do without Ratchet: one Optuna study (the same TPE settings as Ratchet's search proposer,
python/optuna_helper.py) over the project's search_space.yaml, each trial writing params.yaml next to a copy
of the project's train.py and running it directly (no sandbox, no keep rule, no confirmation runs), the
objective being the primary metric on the public holdout. After the wall-clock budget, the trial best on the
public holdout is scored on the private holdout; its private predictions are copied beside --out
(`<out stem>.private.<ext>`, named in the result's `private_file`). A trial still running when the budget ends
is killed (and fails), as Ratchet kills an experiment at the end of its run's wall clock. Writes one JSON object
to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from optuna_helper import N_STARTUP_TRIALS, suggest  # noqa: E402
from score import DIRECTIONS, labels, load_contract, read_predictions, score  # noqa: E402

sys.stdout = sys.__stdout__  # optuna_helper keeps stdout for its protocol; this script does not use it


def merge(base: dict, trial: dict, space: dict) -> dict:
    """params.yaml of a trial: the baseline's keys, overwritten by the trial's along its chosen branches."""
    out = dict(base)
    for name, spec in space.items():
        if name not in trial:
            continue
        out[name] = trial[name]
        if spec.get("type") == "categorical" and spec.get("conditional"):
            chosen = str(trial[name]).lower() if isinstance(trial[name], bool) else str(trial[name])
            for key in spec["conditional"]:
                if key != chosen:
                    out.pop(key, None)
            if chosen in spec["conditional"] and spec["conditional"][chosen]:
                out[chosen] = merge(dict(base.get(chosen) or {}), trial.get(chosen) or {}, spec["conditional"][chosen])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--budget", required=True, type=float, help="wall clock in seconds")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    project = a.project.resolve()
    contract = load_contract(project)
    metric = contract["metric"]["primary"]
    direction = DIRECTIONS[metric]
    with open(project / contract["search"]["space"], encoding="utf-8") as fh:
        space_file = yaml.safe_load(fh)
    space = space_file["space"]
    params_name = space_file.get("params_file", "params.yaml")
    with open(project / params_name, encoding="utf-8") as fh:
        base = yaml.safe_load(fh) or {}
    data = project / ".ratchet" / "data"
    public, private = labels(project, "public"), labels(project, "private")
    work = Path(tempfile.mkdtemp(prefix="ratchet-bench-optuna-"))
    best: dict = {"value": None, "dir": None, "trial": None}
    started = time.monotonic()

    def objective(trial: optuna.Trial) -> float:
        folder = work / f"t{trial.number}"
        (folder / "out").mkdir(parents=True)
        shutil.copy(project / "train.py", folder / "train.py")
        with open(folder / params_name, "w", encoding="utf-8") as fh:
            yaml.safe_dump(merge(base, suggest(trial, space), space), fh, sort_keys=False)
        env = {
            **os.environ,
            "RATCHET_TRAIN": str(data / "train.csv"),
            "RATCHET_PUBLIC": str(data / "public.csv"),
            "RATCHET_PRIVATE": str(data / "private.csv"),
            "RATCHET_OUTPUT": str(folder / "out"),
            "RATCHET_SEED": str(a.seed),
        }
        left = max(1.0, a.budget - (time.monotonic() - started))
        done = subprocess.run([sys.executable, "train.py"], cwd=folder, env=env, capture_output=True, timeout=left)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode(errors="replace")[-400:])
        value = score(contract, public, read_predictions(folder / "out", "public"))
        better = best["value"] is None or (value > best["value"] if direction == "maximize" else value < best["value"])
        if better:
            if best["dir"]:
                shutil.rmtree(best["dir"], ignore_errors=True)
            best.update(value=value, dir=folder, trial=trial.number)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=a.seed, multivariate=True, group=True, n_startup_trials=N_STARTUP_TRIALS)
    study = optuna.create_study(direction=direction, sampler=sampler)
    study.optimize(objective, timeout=a.budget, catch=(Exception,))
    # The pick's private predictions are kept beside --out, for the paired comparison (python/bench/paired.py).
    private_file = None
    if best["dir"]:
        for ext in ("parquet", "csv"):
            found = best["dir"] / "out" / f"private.{ext}"
            if found.exists():
                private_file = a.out.with_name(f"{a.out.stem}.private.{ext}")
                shutil.copy(found, private_file)
                break
    result = {
        "method": "optuna-tpe",
        "metric": metric,
        "trials": len(study.trials),
        "completed": sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials),
        "seconds": round(time.monotonic() - started, 1),
        "public": best["value"],
        "private": score(contract, private, read_predictions(best["dir"] / "out", "private")) if best["dir"] else None,
        "best_trial": best["trial"],
        "private_file": str(private_file) if private_file else None,
    }
    shutil.rmtree(work, ignore_errors=True)
    a.out.write_text(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
