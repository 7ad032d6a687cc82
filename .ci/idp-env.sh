#!/usr/bin/env bash
# Installs the test OpenID provider (tests/idp: the npm package oidc-provider, pinned in
# tests/idp/package-lock.json, with the clients' packages oauth4webapi and
# @modelcontextprotocol/sdk) into target/idp-node, beside the build output, so `cargo clean`
# drops it and the repo never holds a node_modules. The tests that need a real provider
# (tests/support/idp.rs) run this script once per test binary.
#
# Idempotent and quick when already done: a stamp file records the sha256 of package.json and
# package-lock.json it was installed from, and is written only after a complete `npm ci`.
# When the stamp matches, nothing is installed; change the lock file and the next run
# reinstalls. The scripts are copied on every run (they are what runs, next to their modules).
# Prints the path of the provider script to run last (on stdout; progress goes to stderr):
#   node "$(bash .ci/idp-env.sh)" --keys tests/idp/keys-a.json --port 0
#
# Needs node (20 or newer) and npm with access to npm's default package registry.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tests/idp"
dest="$root/target/idp-node"
stamp="$dest/.lock-stamp"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "idp-env: $tool not found; install Node.js 20 or newer with npm" >&2
    exit 1
  fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  echo "idp-env: node $(node --version) is too old; oidc-provider 9 needs Node.js 20 or newer" >&2
  exit 1
fi

want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"

ready() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dest/node_modules/oidc-provider/package.json" ]]
}

# Copies the scripts (provider.mjs, the DPoP client dpop-client.mjs and the MCP client
# mcp-client.mjs) next to the modules through a rename, so a script being started by another
# test binary is never half-written.
install_script() {
  for script in provider.mjs dpop-client.mjs mcp-client.mjs; do
    if ! cmp -s "$src/$script" "$dest/$script"; then
      cp "$src/$script" "$dest/.$script.tmp.$$"
      mv -f "$dest/.$script.tmp.$$" "$dest/$script"
    fi
  done
  echo "$dest/provider.mjs"
}

mkdir -p "$dest"
# Two test binaries at once must not run npm ci over each other.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/target/idp-node.lock"
  flock 9
fi

if ready; then
  install_script
  exit 0
fi

echo "idp-env: installing oidc-provider into $dest (npm ci from tests/idp/package-lock.json)" >&2
rm -f "$stamp"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
version="$(node -p 'require(process.argv[1]).version' "$dest/node_modules/oidc-provider/package.json")"
printf '%s' "$want" >"$stamp"
echo "idp-env: installed oidc-provider $version in $dest/node_modules" >&2
install_script
