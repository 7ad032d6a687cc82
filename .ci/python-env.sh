#!/usr/bin/env bash
# Sets up the Python virtualenv the interop tests (tests/interop.rs) run PyJWT and
# python-jose in, the gRPC tests (grpc/tests/grpc.rs) run grpcio in, and the browser test
# (tests/browser.rs) runs Selenium in:
# target/interop-venv, beside the build output, so `cargo clean` drops it.
#
# Idempotent and quick when already done: a stamp file in the venv records the exact
# requirement line it was built for, and is written only after a complete install. When the
# stamp matches, nothing is installed; change the pins below and the next run rebuilds.
# Prints the venv's python path last (on stdout; progress goes to stderr).
#
# Needs only python3 with its venv module, and pip's default package registry.
set -euo pipefail

# The libraries the FastAPI JWT tutorial uses, grpcio as a standard non-Rust gRPC client
# (its wheels need no compiler), and Selenium for the browser test (tests/browser.rs),
# pinned exactly.
REQUIREMENTS="PyJWT[crypto]==2.15.1 python-jose[cryptography]==3.5.0 grpcio==1.85.3 selenium==4.50.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/target/interop-venv"
python="$venv/bin/python"
stamp="$venv/.requirements-stamp"

ready() {
  [[ -x "$python" && -f "$stamp" && "$(cat "$stamp")" == "$REQUIREMENTS" ]]
}

if ready; then
  echo "$python"
  exit 0
fi

PYTHON3="${PYTHON3:-python3}"
if ! command -v "$PYTHON3" >/dev/null 2>&1; then
  echo "python-env: $PYTHON3 not found; install Python 3 (3.9 or newer) with its venv module" >&2
  exit 1
fi

mkdir -p "$root/target"
# Two test runs at once (say, two feature sets) must not build the venv over each other.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/target/interop-venv.lock"
  flock 9
  if ready; then
    echo "$python"
    exit 0
  fi
fi

echo "python-env: creating $venv with: $REQUIREMENTS" >&2
rm -rf "$venv"
"$PYTHON3" -m venv "$venv"
# shellcheck disable=SC2086 # the requirement line is a list of words
"$python" -m pip install --quiet --disable-pip-version-check --no-input $REQUIREMENTS >&2
"$python" -c 'import jwt, jose, cryptography, grpc' >&2
printf '%s' "$REQUIREMENTS" >"$stamp"
echo "$python"
