#!/usr/bin/env python3
"""Ratchet's Optuna helper: one long-lived process holding ONE Optuna study.

Ratchet's built-in `search` proposer (src/proposers/search/optuna.ts) starts this script and talks to
it in JSON lines: one request object per line on stdin, one reply object per line on stdout. Logs go
to stderr; nothing else is ever written to stdout.

The first request must be `init` (or the study is given on the command line, see `--help`):

  {"op": "init", "storage": "/abs/path/study.db", "study": "name", "direction": "maximize",
   "seed": 42, "space": {...}}           -> {"ok": true, "n_trials": 0, "resumed": false, ...}

`space` is the `space` mapping of a search_space.yaml, already validated by Ratchet
(src/proposers/search/space.ts). Then, one at a time:

  {"op": "ask"}                          -> {"ok": true, "trial": 3, "params": {...nested...},
                                             "enqueued": false, "startup": true, "finished": 3}
  {"op": "tell", "trial": 3, "value": 0.84}      -> {"ok": true}
  {"op": "tell", "trial": 3, "state": "fail"}    -> {"ok": true}
  {"op": "enqueue", "params": {...nested...}}    -> {"ok": true, "enqueued": {...flat...}, "skipped": [...]}
  {"op": "best"}                         -> {"ok": true, "trial": 2, "value": 0.85, "params": {...}}
                                            ({"ok": true, "trial": null} before any completed trial)
  {"op": "info"}                         -> {"ok": true, "n_trials": 4, "n_complete": 3, "n_fail": 1, ...}
  {"op": "top", "by": "model"}           -> {"ok": true, "trials": [{"trial": 7, "value": 0.86, "params": {...},
                                             "group": "lightgbm", "seconds": 2.1}, ...]}
                                            (the best completed trial of each value of `by`, best first)
  {"op": "close"}                        -> {"ok": true}, then the process exits

Any failure answers {"ok": false, "error": "..."} and the process keeps serving. End of stdin ends the
process too, so a helper never outlives the Ratchet process that started it.

Parameters are suggested define-by-run over the conditional space. Optuna names are the dotted
paths of the nested params file: `model`, `lightgbm.num_leaves`, `scale_numeric`. The sampler is
`TPESampler(seed=..., multivariate=True, group=True)`: `group=True` (still flagged experimental in
Optuna 5, which also makes `multivariate=True` the default for one objective) decomposes the
conditional space into the sub-spaces that co-occur in past trials, so each model family's
hyperparameters are modelled jointly instead of falling back to independent sampling.

Storage is `sqlite:///<path>` with `load_if_exists=True`: a restarted helper continues the same
study. Trials a previous process left RUNNING (asked, never told) are marked FAIL at start. The
sampler's seed is the given seed for a new study, and a seed derived from (seed, number of trials
already stored) for a resumed one, so a resumed study does not replay the random start-up samples it
already tried. Same seed + same sequence of requests => same proposals.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings
from typing import Any

# The protocol owns the real stdout; anything a library prints goes to stderr instead.
_PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr

N_STARTUP_TRIALS = 10


def log(message: str) -> None:
    print(f"[optuna-helper] {message}", file=sys.stderr, flush=True)


def reply(obj: dict[str, Any]) -> None:
    _PROTOCOL_OUT.write(json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n")
    _PROTOCOL_OUT.flush()


class RequestError(Exception):
    """A bad request: answered with ok:false, the helper keeps serving."""


# --------------------------------------------------------------------------- search space


def _same_value(a: Any, b: Any) -> bool:
    """Equality that keeps booleans and numbers apart (in Python, True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _choice_key(value: Any) -> str:
    """Key of a categorical choice in `conditional` and in the nested params (YAML keys are strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def suggest(trial: Any, space: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Define-by-run suggestion of `space`; returns the nested params."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        full = prefix + name
        kind = spec["type"]
        if kind == "float":
            step = spec.get("step")
            out[name] = trial.suggest_float(
                full, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                step=float(step) if step is not None else None,
            )
        elif kind == "int":
            out[name] = trial.suggest_int(
                full, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)),
                step=int(spec.get("step") or 1),
            )
        elif kind == "categorical":
            value = trial.suggest_categorical(full, list(spec["choices"]))
            out[name] = value
            conditional = (spec.get("conditional") or {}).get(_choice_key(value))
            if conditional:
                key = _choice_key(value)
                out[key] = suggest(trial, conditional, f"{prefix}{key}.")
        else:
            raise RequestError(f"unknown parameter type {kind!r} at {full}")
    return out


def flatten_for_enqueue(
    space: dict[str, Any], params: Any, prefix: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """Map nested params onto Optuna names; keep only values inside the space.

    Returns (flat params to enqueue, list of reasons for values left to the sampler).
    Keys of `params` that the space does not describe (fixed settings) are simply not searched.
    """
    flat: dict[str, Any] = {}
    skipped: list[str] = []
    if not isinstance(params, dict):
        return flat, skipped
    for name, spec in space.items():
        full = prefix + name
        if name not in params:
            continue
        value = params[name]
        kind = spec["type"]
        if kind in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                skipped.append(f"{full}={value!r} is not a number")
                continue
            low, high = spec["low"], spec["high"]
            if kind == "int":
                if float(value) != int(value):
                    skipped.append(f"{full}={value!r} is not an integer")
                    continue
                value = int(value)
            else:
                value = float(value)
            if value < low or value > high:
                skipped.append(f"{full}={value!r} is outside [{low}, {high}]")
                continue
            flat[full] = value
        else:
            choices = spec["choices"]
            match = next((c for c in choices if _same_value(c, value)), _MISSING)
            if match is _MISSING:
                skipped.append(f"{full}={value!r} is not one of {choices!r}")
                continue
            flat[full] = match
            key = _choice_key(match)
            conditional = (spec.get("conditional") or {}).get(key)
            if conditional:
                sub, sub_skipped = flatten_for_enqueue(conditional, params.get(key), f"{prefix}{key}.")
                flat.update(sub)
                skipped.extend(sub_skipped)
    return flat, skipped


_MISSING = object()


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """Optuna's dotted names back to nested params."""
    out: dict[str, Any] = {}
    # Shorter names first, so `model` exists before `lightgbm.num_leaves` is nested beside it.
    for name in sorted(flat, key=lambda n: n.count(".")):
        parts = name.split(".")
        node = out
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = flat[name]
    return out


# --------------------------------------------------------------------------- study


class Helper:
    def __init__(self) -> None:
        self.study: Any = None
        self.space: dict[str, Any] | None = None
        self.trials: dict[int, Any] = {}
        self.optuna: Any = None

    # -- requests ------------------------------------------------------------------------

    def init(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.study is not None:
            raise RequestError("the study is already initialised; start a new helper for another study")
        storage_path = req.get("storage")
        study_name = req.get("study")
        direction = req.get("direction", "maximize")
        seed = req.get("seed", 0)
        space = req.get("space")
        # Parallel directions share one study: each helper is a worker (0 opens the study first), TPE's
        # constant liar keeps workers from proposing what another is already trying.
        worker = req.get("worker", 0)
        constant_liar = req.get("constant_liar", False)
        if not isinstance(storage_path, str) or not storage_path:
            raise RequestError("init needs 'storage': the path of the SQLite file")
        if not isinstance(study_name, str) or not study_name:
            raise RequestError("init needs 'study': the study name")
        if direction not in ("maximize", "minimize"):
            raise RequestError(f"init 'direction' must be maximize or minimize, not {direction!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise RequestError(f"init 'seed' must be an integer, not {seed!r}")
        if isinstance(worker, bool) or not isinstance(worker, int) or worker < 0:
            raise RequestError(f"init 'worker' must be an integer >= 0, not {worker!r}")
        if not isinstance(constant_liar, bool):
            raise RequestError(f"init 'constant_liar' must be true or false, not {constant_liar!r}")
        if not isinstance(space, dict) or not space:
            raise RequestError("init needs 'space': the non-empty `space` mapping of the search space")

        import optuna
        from optuna.exceptions import ExperimentalWarning
        from optuna.trial import TrialState

        self.optuna = optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=ExperimentalWarning)

        storage_path = os.path.abspath(storage_path)
        os.makedirs(os.path.dirname(storage_path), exist_ok=True)
        storage_url = f"sqlite:///{storage_path}"

        # Open once without a sampler to count what is already stored (resume), then build the
        # sampler with a seed that depends on it.
        probe = optuna.create_study(
            storage=storage_url, study_name=study_name, direction=direction, load_if_exists=True
        )
        if probe.direction.name.lower() != direction:
            raise RequestError(
                f"study {study_name!r} in {storage_path} was created to {probe.direction.name.lower()}, "
                f"not {direction}; use another study name or storage file"
            )
        existing = probe.get_trials(deepcopy=False)
        # Only the first worker fails trials a previous process left RUNNING: another worker's RUNNING trials
        # belong to a live sibling.
        stale = [t for t in existing if t.state == TrialState.RUNNING] if worker == 0 else []
        for t in stale:
            probe._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        if stale:
            log(f"marked {len(stale)} trial(s) left RUNNING by a previous process as FAIL: "
                f"{[t.number for t in stale]}")

        n_existing = len(existing)
        if worker == 0:
            sampler_seed = seed if n_existing == 0 else derive_seed(seed, n_existing)
        else:
            sampler_seed = derive_seed(seed, n_existing, worker)
        sampler = optuna.samplers.TPESampler(
            seed=sampler_seed,
            multivariate=True,
            group=True,
            n_startup_trials=N_STARTUP_TRIALS,
            constant_liar=constant_liar,
        )
        self.study = optuna.load_study(storage=storage_url, study_name=study_name, sampler=sampler)
        self.space = space
        log(f"study {study_name!r} in {storage_path}: {n_existing} trial(s) stored, "
            f"direction {direction}, sampler seed {sampler_seed}")
        return {"ok": True, **self._counts(), "resumed": n_existing > 0, "failed_stale": len(stale),
                "sampler_seed": sampler_seed}

    def ask(self, req: dict[str, Any]) -> dict[str, Any]:
        study = self._need_study()
        from optuna.trial import TrialState

        n_finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        trial = study.ask()
        fixed = study._storage.get_trial_system_attrs(trial._trial_id).get("fixed_params") or {}
        try:
            params = suggest(trial, self.space or {})
        except Exception:
            study.tell(trial, state=TrialState.FAIL)
            raise
        self.trials[trial.number] = trial
        return {"ok": True, "trial": trial.number, "params": params, "enqueued": bool(fixed),
                "startup": n_finished < N_STARTUP_TRIALS and not fixed, "finished": n_finished}

    def tell(self, req: dict[str, Any]) -> dict[str, Any]:
        study = self._need_study()
        from optuna.trial import TrialState

        number = req.get("trial")
        if isinstance(number, bool) or not isinstance(number, int):
            raise RequestError(f"tell needs 'trial': an integer trial number, not {number!r}")
        state = req.get("state", "complete")
        value = req.get("value")
        if state == "complete":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RequestError(f"tell needs a finite 'value' (or \"state\": \"fail\"), not {value!r}")
        elif state != "fail":
            raise RequestError(f"tell 'state' must be complete or fail, not {state!r}")
        target = self.trials.get(number, number)
        try:
            if state == "fail":
                study.tell(target, state=TrialState.FAIL)
            else:
                study.tell(target, float(value))
        except (ValueError, KeyError, RuntimeError) as exc:
            raise RequestError(f"cannot tell trial {number}: {exc}") from exc
        self.trials.pop(number, None)
        return {"ok": True}

    def enqueue(self, req: dict[str, Any]) -> dict[str, Any]:
        study = self._need_study()
        params = req.get("params")
        if not isinstance(params, dict):
            raise RequestError("enqueue needs 'params': the nested params object")
        flat, skipped = flatten_for_enqueue(self.space or {}, params)
        if skipped:
            log("enqueue: left to the sampler: " + "; ".join(skipped))
        if flat:
            study.enqueue_trial(flat, skip_if_exists=True)
        return {"ok": True, "enqueued": flat, "skipped": skipped}

    def best(self, req: dict[str, Any]) -> dict[str, Any]:
        study = self._need_study()
        from optuna.trial import TrialState

        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            return {"ok": True, "trial": None}
        best = study.best_trial
        return {"ok": True, "trial": best.number, "value": best.value, "params": unflatten(best.params)}

    def top(self, req: dict[str, Any]) -> dict[str, Any]:
        """The best completed trial of each value of the top-level parameter `by` (e.g. each model family), best
        first in the study's direction, with its wall-clock seconds from ask to tell (null when unknown)."""
        study = self._need_study()
        from optuna.trial import TrialState

        by = req.get("by")
        if not isinstance(by, str) or not by:
            raise RequestError("top needs 'by': the name of a top-level categorical parameter")
        maximize = study.direction.name.lower() == "maximize"
        best: dict[str, Any] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if by not in t.params or t.value is None or not math.isfinite(t.value):
                continue
            group = _choice_key(t.params[by])
            held = best.get(group)
            if held is None or (t.value > held.value if maximize else t.value < held.value):
                best[group] = t
        ranked = sorted(best.items(), key=lambda kv: (-kv[1].value if maximize else kv[1].value, kv[1].number))
        return {"ok": True, "trials": [
            {"trial": t.number, "value": t.value, "params": unflatten(t.params), "group": group,
             "seconds": t.duration.total_seconds() if t.duration is not None else None}
            for group, t in ranked]}

    def info(self, req: dict[str, Any]) -> dict[str, Any]:
        self._need_study()
        return {"ok": True, **self._counts()}

    # -- helpers -------------------------------------------------------------------------

    def _need_study(self) -> Any:
        if self.study is None:
            raise RequestError('no study yet: send {"op": "init", ...} first')
        return self.study

    def _counts(self) -> dict[str, Any]:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        count = {s: sum(1 for t in trials if t.state == s) for s in TrialState}
        return {
            "study": self.study.study_name,
            "n_trials": len(trials),
            "n_complete": count[TrialState.COMPLETE],
            "n_fail": count[TrialState.FAIL],
            "n_running": count[TrialState.RUNNING],
            "n_waiting": count[TrialState.WAITING],
        }


def derive_seed(seed: int, n_existing: int, worker: int = 0) -> int:
    import numpy as np

    key = [seed & 0xFFFFFFFF, n_existing] + ([worker] if worker else [])
    return int(np.random.SeedSequence(key).generate_state(1)[0])


OPS = {"init", "ask", "tell", "enqueue", "best", "top", "info", "close"}


def serve(helper: Helper) -> int:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        started = time.monotonic()
        op = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise RequestError("a request must be a JSON object")
            op = req.get("op")
            if op not in OPS:
                raise RequestError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
            if op == "close":
                reply({"ok": True})
                log("closed")
                return 0
            reply(getattr(helper, op)(req))
        except RequestError as exc:
            reply({"ok": False, "error": str(exc)})
        except json.JSONDecodeError as exc:
            reply({"ok": False, "error": f"request is not valid JSON: {exc}"})
        except Exception as exc:  # keep serving; the caller decides what a failed request means
            log(f"{op}: {traceback.format_exc()}")
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        elapsed = time.monotonic() - started
        if elapsed > 5:
            log(f"{op} took {elapsed:.1f}s")
    log("stdin closed; exiting")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Ratchet's Optuna helper (JSON lines on stdin/stdout). Without options, the first "
        'request must be {"op": "init", ...}. With --storage/--study/--space, the study is opened at start '
        "(handy by hand: `python optuna_helper.py --storage s.db --study demo --space search_space.yaml`, "
        'then type {"op": "ask"}).'
    )
    parser.add_argument("--storage", help="SQLite file of the study")
    parser.add_argument("--study", help="study name")
    parser.add_argument("--space", help="search_space.yaml (reads its `space` mapping; needs pyyaml)")
    parser.add_argument("--direction", default="maximize", choices=["maximize", "minimize"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    helper = Helper()
    if args.storage or args.study or args.space:
        if not (args.storage and args.study and args.space):
            parser.error("--storage, --study and --space go together")
        import yaml

        with open(args.space, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        result = helper.init({"storage": args.storage, "study": args.study, "direction": args.direction,
                              "seed": args.seed, "space": (doc or {}).get("space")})
        log(json.dumps(result))
    return serve(helper)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
