#!/usr/bin/env bash
# Makes sure `redis-server` (6.2 or newer) is installed for the Redis tests (tests/redis.rs),
# and prints its path last (on stdout; progress goes to stderr).
#
# Quick when it is already on PATH. Otherwise installs Debian's `redis-server` package with
# apt-get, through `sudo -n` when not root. The tests start their own servers on free
# loopback ports (and stop them); the system service the package may start is not used.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/debian-install.sh" redis-server redis-server
