#!/usr/bin/env python3
"""Ratchet's parameter importance: Optuna's fANOVA over a run's trials, for `ratchet report`.

Reads ONE JSON object on stdin and writes ONE JSON object on stdout (logs go to stderr):

  {"direction": "maximize", "seed": 0, "min_trials": 5,
   "space": {...the `space` mapping of search_space.yaml...},
   "trials": [{"params": {"model": "lightgbm", "lightgbm.num_leaves": 31, ...}, "value": 0.84}, ...]}

Trial params use Optuna's names (the dotted paths of the nested params file, as the search proposer's
helper names them). Distributions are rebuilt from `space` exactly as python/optuna_helper.py suggests
them (float/int with low, high, log, step; categorical choices).

fANOVA (Hutter, Hoos & Leyton-Brown 2014; `optuna.importance.FanovaImportanceEvaluator`) needs one
fixed set of parameters per study, and a conditional space has none: the parameters of `lightgbm` do
not exist in a `random_forest` trial. So the importances are computed per group, each in its own
in-memory study (`optuna.create_study` + `study.add_trial(optuna.trial.create_trial(...))`):

- "all trials": the top-level (unconditional) parameters, the family choice among them, over every trial;
- one group per chosen branch of a conditional categorical (a model family): the top-level parameters
  other than the chooser plus that branch's parameters, over that family's trials.

A group with fewer than `min_trials` trials, no parameter that varies, or a constant score is skipped
with the reason. Output:

  {"ok": true, "groups": [{"name": "all trials", "family": null, "trials": 12,
                           "importances": {"model": 0.71, "scale_numeric": 0.29}}, ...],
   "skipped": [{"name": "model=random_forest", "family": "random_forest", "trials": 2,
                "reason": "2 trials (fewer than 5)"}]}

or {"ok": false, "error": "..."} (exit code 1) when the input cannot be used.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from typing import Any


def _choice_key(value: Any) -> str:
    """Key of a categorical choice in `conditional` (YAML keys are strings), as optuna_helper.py does."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def distribution(spec: dict[str, Any]) -> Any:
    """The Optuna distribution of one parameter spec of the search space."""
    import optuna.distributions as d

    kind = spec["type"]
    if kind == "float":
        step = spec.get("step")
        return d.FloatDistribution(
            float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
            step=float(step) if step is not None else None,
        )
    if kind == "int":
        return d.IntDistribution(
            int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)), step=int(spec.get("step") or 1)
        )
    if kind == "categorical":
        return d.CategoricalDistribution(list(spec["choices"]))
    raise ValueError(f"unknown parameter type {kind!r}")


def groups_of(space: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, str, dict[str, Any]]]]:
    """Top-level distributions and, per conditional branch, (chooser, choice key, name, branch distributions)."""
    top: dict[str, Any] = {}
    branches: list[tuple[str, str, str, dict[str, Any]]] = []

    def walk(level: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
        for name, spec in level.items():
            out[prefix + name] = distribution(spec)

    for name, spec in space.items():
        top[name] = distribution(spec)
        if spec["type"] == "categorical":
            for key, sub in (spec.get("conditional") or {}).items():
                if not sub:
                    continue
                dists: dict[str, Any] = {}
                walk(sub, f"{key}.", dists)
                # deeper conditionals are kept flat under the branch prefix (rare; they vary with the branch)
                branches.append((name, key, f"{name}={key}", dists))
    return top, branches


def importance(
    dists: dict[str, Any], trials: list[dict[str, Any]], direction: str, seed: int
) -> dict[str, float]:
    """fANOVA importances (normalised to sum 1) of `dists` over `trials` in a fresh in-memory study."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    study = optuna.create_study(direction=direction)
    for t in trials:
        params = {k: t["params"][k] for k in dists}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=dict(dists), value=float(t["value"]))
        )
    got = optuna.importance.get_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=seed), params=list(dists)
    )
    return {k: float(v) for k, v in got.items()}


def compute(req: dict[str, Any]) -> dict[str, Any]:
    """Answer one request (see the module docstring)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = req.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be maximize or minimize, not {direction!r}")
    seed = int(req.get("seed", 0))
    min_trials = int(req.get("min_trials", 5))
    space = req["space"]
    trials = [
        t for t in req["trials"]
        if isinstance(t.get("value"), (int, float)) and math.isfinite(float(t["value"]))
    ]
    top, branches = groups_of(space)
    groups: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []

    def run(name: str, family: str | None, dists: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        # only trials that carry every parameter of the group, each inside its distribution
        rows = [
            t for t in rows
            if all(k in t["params"] and not _outside(dists[k], t["params"][k]) for k in dists)
        ]
        varying = {
            k: v for k, v in dists.items()
            if len({json.dumps(t["params"][k], sort_keys=True) for t in rows}) > 1
        }
        base = {"name": name, "family": family, "trials": len(rows)}
        if len(rows) < min_trials:
            skipped.append({**base, "reason": f"{len(rows)} trial{'' if len(rows) == 1 else 's'} (fewer than {min_trials})"})
            return
        if not varying:
            skipped.append({**base, "reason": "no parameter varied over these trials"})
            return
        values = [float(t["value"]) for t in rows]
        if max(values) - min(values) == 0:
            skipped.append({**base, "reason": "every trial scored the same"})
            return
        try:
            groups.append({**base, "importances": importance(varying, rows, direction, seed)})
        except Exception as e:  # noqa: BLE001 - one group failing leaves the others
            skipped.append({**base, "reason": f"fANOVA failed: {type(e).__name__}: {e}"})

    run("all trials", None, top, trials)
    for chooser, key, name, dists in branches:
        rows = [t for t in trials if _choice_key(t["params"].get(chooser)) == key]
        if not rows:
            continue
        fixed = {k: v for k, v in top.items() if k != chooser}
        run(name, key, {**fixed, **dists}, rows)
    return {"ok": True, "groups": groups, "skipped": skipped}


def _outside(dist: Any, value: Any) -> bool:
    """Whether `value` cannot be a value of `dist` (a value outside the space is left out of its group)."""
    import optuna.distributions as d

    if isinstance(dist, d.CategoricalDistribution):
        return not any(type(c) is type(value) and c == value for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return not (dist.low <= value <= dist.high)


def main() -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints goes to stderr
    warnings.simplefilter("ignore")
    try:
        req = json.load(sys.stdin)
        result = compute(req)
    except Exception as e:  # noqa: BLE001 - the caller reports the reason
        out.write(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}) + "\n")
        return 1
    out.write(json.dumps(result, allow_nan=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
