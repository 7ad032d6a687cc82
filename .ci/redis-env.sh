#!/usr/bin/env bash
# Makes sure `redis-server` (6.2 or newer) is installed for the Redis tests (tests/redis.rs),
# and prints its path last (on stdout; progress goes to stderr).
#
# Quick when it is already on PATH. Otherwise installs Debian's `redis-server` package with
# apt-get, through `sudo -n` when not root. The tests start their own servers on free
# loopback ports (and stop them); the system service the package may start is not used.
set -euo pipefail

found() {
  command -v redis-server 2>/dev/null
}

if path="$(found)"; then
  echo "$path"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "redis-env: redis-server is not installed and there is no apt-get to install it; install Redis 6.2 or newer" >&2
  exit 1
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "redis-env: redis-server is not installed, and installing it needs root (no sudo here)" >&2
    exit 1
  fi
  sudo=(sudo -n)
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/target"
# Two test runs at once (say, two feature sets) must not run apt-get over each other.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/target/redis-env.lock"
  flock 9
  if path="$(found)"; then
    echo "$path"
    exit 0
  fi
fi

echo "redis-env: installing Debian's redis-server package" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2

if ! path="$(found)"; then
  echo "redis-env: the redis-server package installed no redis-server" >&2
  exit 1
fi
echo "$path"
