"""Generate the fixtures of the bandit (off-policy evaluation) metrics from obp 0.4.1's own code.

Run from the repository root, once the separate, gitignored venv exists:

    python3.11 -m venv .venv-obp
    .venv-obp/bin/pip install numpy==2.4.6 pandas==3.1.1 scikit-learn==1.9.1 scipy==1.17.1 pyyaml==6.0.3 tqdm==4.70.1
    .venv-obp/bin/pip install --no-deps obp==0.4.1
    .venv-obp/bin/python test/metrics/generate_bandit_fixtures.py

Writes test/metrics/fixtures/bandit.json (committed, so the tests do not need this venv). Seeded:
running it twice gives identical files.

obp 0.4.1 (Saito et al. 2021, "Open Bandit Dataset and Pipeline", NeurIPS Datasets and Benchmarks;
https://github.com/st-tech/zr-obp) requires torch, gigabytes from PyPI, which its estimators use only
for the torch-Tensor route (`estimate_policy_value_tensor`) and for `isinstance(x, torch.Tensor)`
checks. So obp is installed without its dependencies and, before obp is imported, a minimal module
named `torch` is put in sys.modules: a `types.ModuleType` whose `Tensor` is a class nothing is an
instance of. ONLY THE IMPORT IS SHIMMED: every expected value below is computed by obp's unmodified
numpy code (obp/ope/estimators.py and obp/utils.py's `check_ope_inputs`, read from the installed
wheel). obp/ope/__init__.py is not run (it imports the regression model and the slate estimators):
obp/__init__.py only reads the version, and obp/ope/estimators.py is loaded on its own with
importlib.util.spec_from_file_location under its real name, so its `from ..utils import ...`
resolves to obp.utils.

Every case holds logged rewards y, actions, propensities pscore, the number of actions k, the
evaluation policy (row-major n*k), optionally a reward model qhat (row-major n*k), optional integer
weights, and per metric the value obp computes:
- ips: InverseProbabilityWeighting, snips: SelfNormalizedInverseProbabilityWeighting,
  dm: DirectMethod, dr: DoublyRobust, sndr: SelfNormalizedDoublyRobust,
  switch_dr: SwitchDoublyRobust(tau=100), switch_dr@<tau>: SwitchDoublyRobust(tau=float(<tau>)),
each called as estimate_policy_value(reward=y, action=action, pscore=pscore,
action_dist=policy.reshape(n, k, 1), estimated_rewards_by_reg_model=qhat.reshape(n, k, 1),
position=None). A metric obp cannot compute gets null and a reason in `undefined`: no qhat for the
model-based estimators, or NaN (snips and sndr when the policy gives every logged action
probability 0: 0/0).

Weights are "multiplicity" weights (non-negative integers, zeros included): the expected value is
obp's on the rows repeated by their weights (np.repeat), the semantics the engine's bootstrap uses.

Floats are written with Python's repr (exact float64 round trip); the file is then formatted with
the repository's biome so that `npx biome check test` passes. The cases are kept small (k = 80 with
n <= 120, q_hat rounded to 6 decimals) so the formatted file stays under biome's 1 MiB file-size
limit, above which biome skips the file.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).resolve().parent / "fixtures"
SEED = 20250301
TAUS = ["1", "2.5", "10", "1e3"]  # switch_dr@<tau> names besides plain switch_dr (tau = 100)


def load_obp_estimators() -> types.ModuleType:
    """obp.ope.estimators from the installed obp 0.4.1, with torch shimmed for the import only."""
    shim = types.ModuleType("torch")

    class Tensor:  # nothing is an instance of this: obp takes its numpy route everywhere
        pass

    shim.Tensor = Tensor
    sys.modules["torch"] = shim
    import obp  # obp/__init__.py imports only obp.version

    if obp.__version__ != "0.4.1":
        raise SystemExit(f"obp 0.4.1 is required, found {obp.__version__}")
    path = Path(obp.__file__).parent / "ope" / "estimators.py"
    spec = importlib.util.spec_from_file_location("obp.ope.estimators", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["obp.ope.estimators"] = module
    spec.loader.exec_module(module)
    return module


EST = load_obp_estimators()
import obp  # noqa: E402  (already imported by the loader)


def estimators() -> dict[str, object]:
    out = {
        "ips": EST.InverseProbabilityWeighting(),
        "snips": EST.SelfNormalizedInverseProbabilityWeighting(),
        "dm": EST.DirectMethod(),
        "dr": EST.DoublyRobust(),
        "sndr": EST.SelfNormalizedDoublyRobust(),
        "switch_dr": EST.SwitchDoublyRobust(tau=100.0),
    }
    for t in TAUS:
        out[f"switch_dr@{t}"] = EST.SwitchDoublyRobust(tau=float(t))
    return out


NEEDS_QHAT = {"dm", "dr", "sndr"} | {name for name in estimators() if name.startswith("switch_dr")}


def obp_values(y, action, pscore, policy, qhat, k) -> tuple[dict, dict]:
    """Every estimator's estimate_policy_value on these logs (obp's code), or null with a reason."""
    n = len(y)
    expected: dict[str, float | None] = {}
    undefined: dict[str, str] = {}
    for name, est in estimators().items():
        if name in NEEDS_QHAT and qhat is None:
            expected[name] = None
            undefined[name] = "no reward model (qhat)"
            continue
        kwargs = dict(
            reward=np.asarray(y, dtype=np.float64),
            action=np.asarray(action, dtype=np.int64),
            pscore=np.asarray(pscore, dtype=np.float64),
            action_dist=np.asarray(policy, dtype=np.float64).reshape(n, k, 1),
            position=None,
        )
        if name in NEEDS_QHAT:
            kwargs["estimated_rewards_by_reg_model"] = np.asarray(qhat, dtype=np.float64).reshape(n, k, 1)
        if name == "dm":  # DirectMethod takes no reward, action or pscore
            kwargs = {key: kwargs[key] for key in ("action_dist", "estimated_rewards_by_reg_model", "position")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = float(est.estimate_policy_value(**kwargs))
        if np.isnan(v):
            expected[name] = None
            undefined[name] = "obp returned NaN (every logged action has probability 0 under the policy: 0/0)"
        else:
            expected[name] = v
    return expected, undefined


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def one_hot(idx: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(idx), k))
    out[np.arange(len(idx)), idx] = 1.0
    return out


def fitted_qhat(x: np.ndarray, action: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """q_hat(x, a) from a scikit-learn logistic regression on [x, one-hot(a), x * one-hot(a)_0]."""

    def design(xs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        oh = one_hot(acts, k)
        return np.hstack([xs, oh, xs[:, :1] * oh])

    model = LogisticRegression(max_iter=2000).fit(design(x, action), y.astype(np.int64))
    n = len(x)
    q = np.empty((n, k))
    for a in range(k):
        q[:, a] = model.predict_proba(design(x, np.full(n, a)))[:, 1]
    return q


def make_case(
    rng: np.random.Generator,
    name: str,
    n: int,
    k: int,
    logger: str = "softmax",
    policy: str = "dirichlet",
    qhat: str | None = "random",
    reward: str = "click",
    weights: bool = False,
    beta: float = 1.0,
) -> dict:
    d = 4
    x = rng.normal(size=(n, d))
    theta = rng.normal(size=(d, k))
    q_true = sigmoid(x @ theta - 1.0)
    if logger == "uniform":
        pb = np.full((n, k), 1.0 / k)
    else:
        pb = softmax(beta * (x @ rng.normal(size=(d, k))))
    action = np.array([rng.choice(k, p=row) for row in pb], dtype=np.int64)
    pscore = pb[np.arange(n), action]
    if reward == "click":
        y = rng.binomial(1, q_true[np.arange(n), action]).astype(np.float64)
    else:
        y = q_true[np.arange(n), action] * 3.0 + rng.normal(scale=0.7, size=n)

    # q_hat rounded to 6 decimals (shorter fixtures; obp computes on the same rounded values)
    if qhat == "model":
        qh = np.round(fitted_qhat(x, action, y, k), 6)
    elif qhat == "random":
        qh = np.round(rng.uniform(size=(n, k)), 6)
    else:
        qh = None

    if policy == "dirichlet":
        pe = rng.dirichlet(np.full(k, 0.5), size=n)
    elif policy == "logging":
        pe = pb.copy()
    elif policy == "deterministic":
        scores = qh if qh is not None else x @ rng.normal(size=(d, k))
        pe = one_hot(np.argmax(scores, axis=1), k)
    elif policy == "logged_action":  # always the logged action: rho = 1 / pscore
        pe = one_hot(action, k)
    elif policy == "miss":  # never the logged action: every rho is 0
        pe = one_hot((action + 1) % k, k)
    elif policy == "eps_greedy":
        pe = 0.9 * one_hot(np.argmax(x @ rng.normal(size=(d, k)), axis=1), k) + 0.1 / k
    elif policy == "softmax":
        pe = softmax(2.0 * (x @ rng.normal(size=(d, k))))
    else:
        raise ValueError(policy)

    w = None
    if weights:
        w = rng.integers(0, 4, size=n)
        if w.sum() == 0:
            w[0] = 1
    case = {
        "name": name,
        "k": k,
        "y": y.tolist(),
        "action": action.tolist(),
        "pscore": pscore.tolist(),
        "policy": pe.reshape(-1).tolist(),
        "qhat": None if qh is None else qh.reshape(-1).tolist(),
        "weights": None if w is None else w.astype(np.float64).tolist(),
    }
    if w is None:
        ry, ra, rp, rpe, rq = y, action, pscore, pe, qh
    else:  # the rows repeated by their integer weights
        ry, ra, rp, rpe = np.repeat(y, w), np.repeat(action, w), np.repeat(pscore, w), np.repeat(pe, w, axis=0)
        rq = None if qh is None else np.repeat(qh, w, axis=0)
    expected, undefined = obp_values(ry, ra, rp, rpe, rq, k)
    case["expected"] = expected
    case["undefined"] = undefined
    return case


def cases(rng: np.random.Generator) -> list[dict]:
    out = [
        # n = 1 edge cases
        make_case(rng, "n1_k2_dirichlet", 1, 2),
        make_case(rng, "n1_k2_logged_action", 1, 2, policy="logged_action"),
        make_case(rng, "n1_k2_miss", 1, 2, policy="miss"),
        make_case(rng, "n1_k5_deterministic", 1, 5, policy="deterministic"),
        make_case(rng, "n1_k5_no_qhat", 1, 5, qhat=None),
        # small
        make_case(rng, "n3_k2_uniform_same_policy", 3, 2, logger="uniform", policy="logging"),
        make_case(rng, "n7_k5_miss", 7, 5, policy="miss"),
        make_case(rng, "n10_k5_real_rewards", 10, 5, reward="real"),
        # medium, k = 2 and 5
        make_case(rng, "n200_k2_dirichlet", 200, 2),
        make_case(rng, "n200_k2_model_deterministic", 200, 2, qhat="model", policy="deterministic"),
        make_case(rng, "n300_k5_same_policy", 300, 5, policy="logging", qhat="model"),
        make_case(rng, "n300_k5_uniform_same_policy", 300, 5, logger="uniform", policy="logging"),
        make_case(rng, "n300_k5_eps_greedy_model", 300, 5, policy="eps_greedy", qhat="model"),
        make_case(rng, "n300_k5_softmax_real", 300, 5, policy="softmax", reward="real"),
        make_case(rng, "n500_k5_deterministic_sharp_logger", 500, 5, policy="deterministic", beta=3.0),
        make_case(rng, "n400_k5_no_qhat", 400, 5, qhat=None, policy="softmax"),
        # k = 80: large importance weights (switch_dr truncates)
        make_case(rng, "n60_k80_dirichlet", 60, 80),
        make_case(rng, "n120_k80_deterministic_model", 120, 80, policy="deterministic", qhat="model", beta=2.0),
        make_case(rng, "n120_k80_eps_greedy", 120, 80, policy="eps_greedy", beta=2.0),
        # integer weights (zeros included): obp on the repeated rows
        make_case(rng, "w_n1_k2", 1, 2, weights=True, policy="logged_action"),
        make_case(rng, "w_n40_k5_dirichlet", 40, 5, weights=True),
        make_case(rng, "w_n60_k5_real_model", 60, 5, weights=True, reward="real", qhat="random"),
        make_case(rng, "w_n100_k5_eps_greedy", 100, 5, weights=True, policy="eps_greedy"),
        make_case(rng, "w_n40_k80_deterministic", 40, 80, weights=True, policy="deterministic", beta=2.0),
        make_case(rng, "w_n20_k5_miss", 20, 5, weights=True, policy="miss"),
    ]
    return out


def format_with_biome(files: list[Path]) -> None:
    root = OUT.parents[2]
    biome = root / "node_modules" / ".bin" / "biome"
    if not biome.exists():
        print("note: node_modules/.bin/biome not found; fixtures left unformatted")
        return
    subprocess.run([str(biome), "format", "--write", *map(str, files)], cwd=root, check=True, capture_output=True)


def main() -> None:
    doc = {
        "generator": "test/metrics/generate_bandit_fixtures.py",
        "seed": SEED,
        "obp_version": obp.__version__,
        "numpy_version": np.__version__,
        "obp_code": "real (torch import shimmed only)",
        "taus": TAUS,
        "cases": cases(np.random.default_rng(SEED)),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "bandit.json"
    path.write_text(json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(doc['cases'])} cases)")
    format_with_biome([path])


if __name__ == "__main__":
    main()
