#!/usr/bin/env bash
# Installs everything Ratchet needs on a fresh Debian/Ubuntu machine with Node.js 20 and Python 3:
#   bubblewrap (the sandbox, from apt), a Python venv in .venv (scikit-learn, LightGBM, Optuna, pandas),
#   the npm packages, and the compiled CLI in dist/.
#   --with-browser  also Debian's chromium (the Studio's browser tests drive it with playwright-core)
#   --with-mlflow   also an MLflow tracking server in .venv-mlflow (python/requirements-mlflow.txt; the MLflow tests)
#   --with-ray      also a Ray head in .venv-ray (python/requirements-ray.txt: ray[default], the Jobs REST API; the Ray
#                   executor's tests). The jobs' training commands run with the project's .venv inside bubblewrap,
#                   so .venv-ray holds Ray alone
#   --with-bench    also .venv-bench for `npm run bench -- proposer` (python/requirements-bench.txt: AutoGluon,
#                   statsmodels); when AutoGluon does not install, only the datasets' packages, and the bench says so
# Idempotent: re-running skips what is already there.
# Usage: bash scripts/setup.sh [--with-browser] [--with-mlflow] [--with-ray] [--with-bench]
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=0
with_mlflow=0
with_ray=0
with_bench=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --with-mlflow) with_mlflow=1 ;;
    --with-ray) with_ray=1 ;;
    --with-bench) with_bench=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      say "cannot install $* without root: install it yourself (apt-get install $*)"; return 1
    fi
  fi
  if ! $sudo apt-get install -y -qq "$@" >/dev/null 2>&1; then
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    $sudo apt-get install -y -qq "$@" >/dev/null
  fi
}

# 1. The sandbox.
if ! command -v bwrap >/dev/null 2>&1; then
  say "installing bubblewrap (the experiment sandbox)"
  apt_install bubblewrap || say "WARNING: no bubblewrap; ratchet will refuse to run unless you pass --unsafe-no-sandbox"
fi
if [ "$with_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium (browser tests of the Studio)"
  apt_install chromium
fi

# 2. Python: the example's train.py, the search proposer (Optuna) and the metric fixtures (scikit-learn).
py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($py --version)"
  $py -m venv .venv
fi
if ! .venv/bin/python -c 'import sklearn, lightgbm, optuna, pandas, yaml, pyarrow' >/dev/null 2>&1; then
  say "installing Python packages (python/requirements.txt)"
  .venv/bin/pip install -q --disable-pip-version-check -r python/requirements.txt
fi

# A server in a venv of its own, pinned by a requirements file: (re)installed when its command is missing or its
# version is not the pinned one. Usage: server_venv <venv> <command> <requirement name> <requirements file> <label>
server_venv() {
  local venv=$1 cmd=$2 pkg=$3 req=$4 label=$5 want
  want=$(grep -E "^${pkg}==" "$req" | sed 's/.*==//')
  if [ ! -x "$venv/bin/$cmd" ] || [ "$("$venv/bin/$cmd" --version 2>/dev/null | awk '{print $NF}')" != "$want" ]; then
    say "installing $label $want into $venv ($req)"
    [ -x "$venv/bin/python" ] || $py -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  fi
}

# 2b. The MLflow tracking server, in its own venv (its pins conflict with the experiment venv's).
if [ "$with_mlflow" = 1 ]; then
  server_venv .venv-mlflow mlflow mlflow python/requirements-mlflow.txt MLflow
fi

# 2c. A Ray head for the Ray executor's tests, in its own venv: Ray only schedules the jobs and runs Ratchet's
#     entry script (standard library only); the training command runs with the project's interpreter inside
#     bubblewrap on the worker, the same one the local executor uses, so scores match and .venv-ray needs no
#     pandas or scikit-learn.
if [ "$with_ray" = 1 ]; then
  server_venv .venv-ray ray 'ray\[default\]' python/requirements-ray.txt Ray
fi

# 2d. The proposer benchmark's baselines and datasets, in their own venv (AutoGluon pins pandas<2.4).
if [ "$with_bench" = 1 ]; then
  [ -x .venv-bench/bin/python ] || { say "creating .venv-bench with $($py --version)"; $py -m venv .venv-bench; }
  if ! .venv-bench/bin/python -c 'import autogluon.tabular, statsmodels, sklearn, pandas, pyarrow, yaml' >/dev/null 2>&1; then
    say "installing AutoGluon and statsmodels into .venv-bench (python/requirements-bench.txt; a few minutes)"
    if ! .venv-bench/bin/pip install -q --disable-pip-version-check -r python/requirements-bench.txt; then
      say "WARNING: AutoGluon did not install; installing only the datasets' packages (the bench reports AutoGluon as not installed)"
      grep -v '^autogluon' python/requirements-bench.txt | .venv-bench/bin/pip install -q --disable-pip-version-check -r /dev/stdin
    fi
  fi
fi

# 3. Node packages. better-sqlite3 compiles against the local Node headers when no prebuilt binary is reachable.
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then export npm_config_nodedir=/usr; fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  # `npm install`, not `npm ci`: npm 11 records only this platform's optional packages (e.g. biome's binaries)
  # in the lock file and `npm ci` then refuses it as out of sync; `npm install` installs what the lock pins.
  npm install --no-audit --no-fund --loglevel=error
fi

# 4. Build the CLI.
say "building"
npm run --silent build
say "ready: npm run demo   (or: node dist/src/cli/main.js --help)"
