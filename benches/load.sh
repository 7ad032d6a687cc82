#!/usr/bin/env bash
# Throughput with and without JwtAuthLayer: an axum server on 127.0.0.1 (one worker thread)
# driven by wrk (one thread) for a few seconds per run, warm tokens drawn from a pool of 100.
# Prints requests per second and the ratio to the same server without auth. Not part of CI.
#
#   bash benches/load.sh [seconds]      # default 5
#
# Needs wrk (Debian package `wrk`; installed with apt-get when missing and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"

if ! command -v wrk >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "load: installing wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    }
  else
    echo "load: wrk is not installed (Debian: apt-get install wrk)" >&2
    exit 1
  fi
fi

cargo build --release -p tower-jwt-auth-benches --bin load_server >&2
server="${CARGO_TARGET_DIR:-target}/release/load_server"
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run MODE: prints requests per second.
run() {
  local mode=$1 port
  port=$(free_port)
  "$server" "$mode" "$port" "$work/$mode.tokens" >"$work/$mode.out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    grep -q ready "$work/$mode.out" 2>/dev/null && break
    sleep 0.1
  done
  WRK_TOKENS="$work/$mode.tokens" wrk -t1 -c32 -d"${seconds}s" -s benches/load/pool.lua \
    "http://127.0.0.1:$port/me" >"$work/$mode.wrk"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  grep -q "Non-2xx" "$work/$mode.wrk" && { echo "load: $mode answered errors" >&2; cat "$work/$mode.wrk" >&2; exit 1; }
  awk '/Requests\/sec/ {print $2}' "$work/$mode.wrk"
}

# The same tokens with and without the layer, so both runs move the same bytes.
none_hs=$(run none-hs256)
hs256=$(run hs256)
none_rs=$(run none-rs256)
rs256=$(run rs256)
echo "| tokens | no auth (requests/s) | JwtAuthLayer, warm (requests/s) | with / without |"
echo "|---|---:|---:|---:|"
awk -v nh="$none_hs" -v h="$hs256" -v nr="$none_rs" -v r="$rs256" 'BEGIN {
  printf "| HS256 | %.0f | %.0f | %.2f |\n", nh, h, h / nh
  printf "| RS256 | %.0f | %.0f | %.2f |\n", nr, r, r / nr
}'
