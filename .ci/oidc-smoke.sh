#!/usr/bin/env bash
# Smoke run of examples/oidc.rs against the test OpenID provider (tests/idp): /health is
# ready once the keys are fetched, /me answers the verified claims of a client_credentials
# token, a request without a token gets 401 with a Bearer challenge, and a DPoP client (the
# npm oauth4webapi, tests/idp/dpop-client.mjs) gets a DPoP-bound token for the example's URL
# and is served, while a replayed proof and the bound token sent as Bearer are refused.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "oidc smoke: FAIL: $*" >&2
  for log in "$work"/*.log; do [[ -s "$log" ]] && { echo "--- $log" >&2; cat "$log" >&2; }; done
  exit 1
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

provider=$(bash .ci/idp-env.sh)
cargo build --example oidc --features axum,jwks
bin="${CARGO_TARGET_DIR:-target}/debug/examples/oidc"

node "$provider" --keys tests/idp/keys-a.json >"$work/idp.out" 2>"$work/idp.log" &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$work/idp.out" ]] && break; sleep 0.1; done
issuer=$(json_field issuer <"$work/idp.out") || fail "the provider did not start"

port=$(free_port)
base="http://127.0.0.1:$port"
# The example's own URL as the resource (RFC 8707): the provider puts it in `aud`.
resource="$base/me"
OIDC_ISSUER="$issuer" OIDC_AUDIENCE="$resource" PORT="$port" "$bin" >"$work/oidc.log" 2>&1 &
pids+=($!)
ready=""
for _ in $(seq 1 100); do
  if curl -sf "$base/health" >"$work/health" 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[[ -n "$ready" ]] || fail "/health never became ready: $(cat "$work/health" 2>/dev/null)"
grep -q '"ready":true' "$work/health" || fail "/health: $(cat "$work/health")"
echo "oidc smoke: ok: /health is ready"

token=$(curl -sf -d grant_type=client_credentials -d client_id=test-client -d client_secret=test-secret \
  --data-urlencode "resource=$resource" -d scope=read "$issuer/token" | json_field access_token) || fail "no token from the provider"
status=$(curl -s -o "$work/me" -w '%{http_code}' -H "Authorization: Bearer $token" "$base/me")
[[ "$status" == 200 ]] || fail "GET /me with a token: $status $(cat "$work/me")"
grep -qF "\"aud\":\"$resource\"" "$work/me" || fail "GET /me lacks the audience: $(cat "$work/me")"
echo "oidc smoke: ok: /me answers the verified claims"

status=$(curl -s -o /dev/null -D "$work/headers" -w '%{http_code}' "$base/me")
[[ "$status" == 401 ]] || fail "GET /me without a token: $status"
grep -qi '^www-authenticate: Bearer' "$work/headers" || fail "no Bearer challenge"
echo "oidc smoke: ok: no token, 401"
dpop_client="$(dirname "$provider")/dpop-client.mjs"
calls() { python3 -c "import json, sys; print(' '.join(str(c['status']) for c in json.load(sys.stdin)['calls']))"; }
dpop() { node "$dpop_client" --issuer "$issuer" --resource "$resource" --url "$resource" "$@" 2>>"$work/dpop.log"; }
[[ "$(dpop --calls 2 | calls)" == "200 200" ]] || fail "a DPoP client with a bound token and fresh proofs"
[[ "$(dpop --reuse-proof | calls)" == "200 401" ]] || fail "a replayed DPoP proof"
[[ "$(dpop --bearer | calls)" == "401" ]] || fail "a DPoP-bound token sent as Bearer"
echo "oidc smoke: ok: DPoP-bound tokens with their proofs; a replay and a bound token as Bearer refused"
echo "oidc smoke: all checks passed"
