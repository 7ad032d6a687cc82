#!/usr/bin/env bash
# Usage: debian-install.sh COMMAND PACKAGE...
#
# Makes sure COMMAND is on PATH, installing the Debian PACKAGEs with apt-get when it is not
# (through `sudo -n` when not root), and prints COMMAND's path last (on stdout; progress
# goes to stderr). Quick when COMMAND is already there. Used by the scripts that prepare
# what the tests run beyond cargo (redis-env.sh, browser-env.sh).
set -euo pipefail

command_name="$1"
shift
packages=("$@")
me="debian-install ($command_name)"

found() {
  command -v "$command_name" 2>/dev/null
}

if path="$(found)"; then
  echo "$path"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "$me: $command_name is not installed and there is no apt-get to install ${packages[*]}; install it yourself" >&2
  exit 1
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "$me: $command_name is not installed, and installing ${packages[*]} needs root (no sudo here)" >&2
    exit 1
  fi
  sudo=(sudo -n)
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/target"
# Two test runs at once (say, two feature sets) must not run apt-get over each other.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/target/debian-install.lock"
  flock 9
  if path="$(found)"; then
    echo "$path"
    exit 0
  fi
fi

echo "$me: installing Debian's ${packages[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2

if ! path="$(found)"; then
  echo "$me: installing ${packages[*]} gave no $command_name" >&2
  exit 1
fi
echo "$path"
