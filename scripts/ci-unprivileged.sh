#!/usr/bin/env bash
# Runs the sandbox and attack test files as an unprivileged user (`ratchet-ci`, created when missing), in a copy
# of this checkout that the user owns, with a Python venv the user can reach (root's own interpreter may sit
# under a home folder the user cannot read). Called by .ci/run after the main tests; needs root.
# Usage: bash scripts/ci-unprivileged.sh [vitest file filters...]   (default: test/sandbox test/attacks test/canary test/executors/ray-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[unprivileged]\033[0m %s\n' "$*"; }
if [ "$(id -u)" -ne 0 ]; then say "not root: already unprivileged, nothing to add"; exit 0; fi
user=ratchet-ci
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"

work=$(mktemp -d "${TMPDIR:-/tmp}/ratchet-unprivileged.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/repo"
cp -a node_modules "$work/repo/"
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
say "venv for $user with $($py --version)"
"$py" -m venv "$work/repo/.venv"
"$work/repo/.venv/bin/pip" install -q --disable-pip-version-check -r python/requirements.txt
chown -R "$user" "$work"
chmod 755 "$work"

filters=("$@")
[ ${#filters[@]} -gt 0 ] || filters=(test/sandbox test/attacks test/canary test/executors/ray-gpu)
say "as $user (uid $(id -u "$user")): vitest run ${filters[*]}"
su "$user" -s /bin/bash -c "cd '$work/repo' && export HOME='$work/home' TMPDIR='$work/tmp' && mkdir -p \"\$HOME\" \"\$TMPDIR\" && npm run --silent build && npx vitest run ${filters[*]}"
