#!/usr/bin/env bash
# Smoke run of examples/quickstart.rs: build it, start it on a free port, and walk the
# tutorial's flow with curl (log in, read /users/me, the admin check, the 401s).
# Exits non-zero with a message on the first answer that is not the expected one.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
log="$work/server.log"
server_pid=""

cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "quickstart smoke: FAIL: $*" >&2
  if [[ -s "$log" ]]; then
    echo "--- server output ---" >&2
    cat "$log" >&2
  fi
  exit 1
}

pass() { echo "quickstart smoke: ok: $*"; }

command -v curl >/dev/null || fail "curl is not installed"

echo "quickstart smoke: building"
cargo build --example quickstart --features axum
bin="${CARGO_TARGET_DIR:-target}/debug/examples/quickstart"
[[ -x "$bin" ]] || fail "no binary at $bin after the build"

# A short secret is refused at start, with a sentence.
if JWT_SECRET=too-short PORT=0 "$bin" >"$work/short.out" 2>&1; then
  fail "a 9-byte JWT_SECRET was accepted"
fi
grep -q "at least 32 bytes" "$work/short.out" || fail "no clear message for a short JWT_SECRET: $(cat "$work/short.out")"
pass "a short JWT_SECRET is refused"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    2>/dev/null || echo 38080
}
port=$(free_port)
base="http://127.0.0.1:$port"

PORT="$port" "$bin" >"$log" 2>&1 &
server_pid=$!

# The binary is built: starting (three argon2 hashes in a debug build) takes seconds.
for _ in $(seq 1 150); do
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited during start"
  curl -s -o /dev/null "$base/" && break
  sleep 0.2
done
curl -s -o /dev/null "$base/" || fail "the server did not answer on $base within 30 s"
pass "the server answers on $base"

# The commands the quickstart prints work as printed: pasted into a shell, in order.
sed -n 's/^  \([A-Z]*=\|curl \)/\1/p' "$log" >"$work/printed.sh"
[[ $(grep -c . "$work/printed.sh") -ge 8 ]] || fail "the quickstart printed no commands to try: $(cat "$work/printed.sh")"
bash -eu "$work/printed.sh" >"$work/printed.out" 2>&1 || fail "the printed commands failed: $(cat "$work/printed.out")"
for needle in '"username":"alice"' 'Welcome to the admin area, alice' '"refresh_token":"' '204' '"error":"invalid_token"'; do
  grep -qF -- "$needle" "$work/printed.out" || fail "the printed commands' output lacks $needle: $(cat "$work/printed.out")"
done
pass "the printed commands log in, read, refresh and log out"

# request ARGS...: runs curl, leaves the body in $work/body and headers in $work/headers,
# prints the status code.
request() {
  curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@" || echo "curl-failed"
}

expect_status() { # expected actual what
  [[ "$2" == "$1" ]] || fail "$3: expected HTTP $1, got $2; body: $(cat "$work/body" 2>/dev/null)"
}

expect_body() { # needle what
  grep -qF -- "$1" "$work/body" || fail "$2: body lacks $1; body: $(cat "$work/body")"
}

expect_header() { # regex what
  grep -qiE -- "$1" "$work/headers" || fail "$2: no header matching $1; headers: $(cat "$work/headers")"
}

login() { # user password
  request -d grant_type=password -d "username=$1" -d "password=$2" -d scope= "$base/token"
}

token_for() { # user password
  local status
  status=$(login "$1" "$2")
  expect_status 200 "$status" "POST /token for $1"
  expect_body '"token_type":"bearer"' "POST /token for $1"
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body"
}

status=$(request "$base/")
expect_status 200 "$status" "GET /"
pass "GET / is public"

status=$(request -H "Accept: text/html,application/xhtml+xml,*/*;q=0.8" "$base/")
expect_status 200 "$status" "GET / from a browser"
expect_header '^content-type: text/html' "GET / from a browser"
expect_body '<form id="login"' "GET / from a browser"
pass "GET / gives a browser the login page (tests/browser.rs drives it in Chromium)"

alice=$(token_for alice wonderland)
[[ "$alice" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "alice's token is not a JWT: $alice"
pass "alice gets a token"

status=$(request -H "Authorization: Bearer $alice" "$base/users/me")
expect_status 200 "$status" "GET /users/me as alice"
expect_body '"username":"alice"' "GET /users/me as alice"
expect_body '"role":"admin"' "GET /users/me as alice"
pass "/users/me names alice"

status=$(request -H "Authorization: Bearer $alice" "$base/admin")
expect_status 200 "$status" "GET /admin as alice"
pass "alice may enter /admin"

bob=$(token_for bob builder)
status=$(request -H "Authorization: Bearer $bob" "$base/admin")
expect_status 403 "$status" "GET /admin as bob"
expect_header '^www-authenticate: Bearer .*error="insufficient_scope".*scope="admin"' "GET /admin as bob"
pass "bob is refused /admin with 403 insufficient_scope"

status=$(request "$base/users/me")
expect_status 401 "$status" "GET /users/me without a token"
expect_header '^www-authenticate: Bearer' "GET /users/me without a token"
pass "no token: 401 with a Bearer challenge"

status=$(request -H "Authorization: Bearer not.a.token" "$base/users/me")
expect_status 401 "$status" "GET /users/me with a bad token"
pass "a bad token: 401"

status=$(login alice wrong-password)
expect_status 401 "$status" "POST /token with a wrong password"
expect_body '"detail":"Incorrect username or password"' "POST /token with a wrong password"
expect_header '^www-authenticate: Bearer realm="quickstart"' "POST /token with a wrong password"
pass "a wrong password: 401"

status=$(login mallory wonderland)
expect_status 401 "$status" "POST /token for an unknown user"
expect_body '"detail":"Incorrect username or password"' "POST /token for an unknown user"
pass "an unknown user: the same 401"

# Refresh-token rotation: a new pair; the old refresh token works once only, and its reuse
# revokes the session (the new access token included).
status=$(login alice wonderland)
expect_status 200 "$status" "POST /token for alice (pair)"
expect_body '"refresh_token":"' "POST /token for alice (pair)"
expect_header '^cache-control: no-store' "POST /token for alice (pair)"
first_refresh=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$work/body")
status=$(request -d grant_type=refresh_token -d "refresh_token=$first_refresh" "$base/token/refresh")
expect_status 200 "$status" "POST /token/refresh"
second_access=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body")
second_refresh=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$work/body")
status=$(request -H "Authorization: Bearer $second_access" "$base/users/me")
expect_status 200 "$status" "GET /users/me with the refreshed access token"
pass "a refresh token gives a new pair"
status=$(request -H "Authorization: Bearer $second_refresh" "$base/users/me")
expect_status 401 "$status" "GET /users/me with a refresh token as the access token"
pass "a refresh token is not an access token"
status=$(request -d "refresh_token=$first_refresh" "$base/token/refresh")
expect_status 400 "$status" "POST /token/refresh with a used refresh token"
expect_body '"error":"invalid_grant"' "POST /token/refresh with a used refresh token"
status=$(request -H "Authorization: Bearer $second_access" "$base/users/me")
expect_status 401 "$status" "GET /users/me after the refresh token was reused"
expect_header '^www-authenticate: Bearer .*error="invalid_token"' "GET /users/me after reuse"
status=$(request -d "refresh_token=$second_refresh" "$base/token/refresh")
expect_status 400 "$status" "POST /token/refresh with the revoked family's newest refresh token"
pass "reusing a refresh token revokes its whole session"

# Browsers: the access token comes as an HttpOnly cookie that authenticates by itself; a
# state-changing request authenticated by it must come from this origin.
status=$(login alice wonderland)
expect_status 200 "$status" "POST /token for alice (cookie)"
expect_header '^set-cookie: __Host-access_token=[A-Za-z0-9._-]+; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Strict' "POST /token (cookie)"
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(__Host-access_token=[^;]*\);.*/\1/p' "$work/headers")
status=$(request -H "Cookie: $cookie" "$base/users/me")
expect_status 200 "$status" "GET /users/me with the cookie"
expect_body '"username":"alice"' "GET /users/me with the cookie"
status=$(request -X POST -H "Cookie: $cookie" -H "Sec-Fetch-Site: cross-site" -H "Origin: https://evil.example" "$base/logout")
expect_status 403 "$status" "POST /logout with the cookie from another site"
status=$(request -H "Cookie: $cookie" "$base/users/me")
expect_status 200 "$status" "GET /users/me after the refused cross-site logout"
status=$(request -X POST -H "Cookie: $cookie" -H "Sec-Fetch-Site: same-origin" "$base/logout")
expect_status 204 "$status" "POST /logout with the cookie from this origin"
expect_header '^set-cookie: __Host-access_token=; Path=/; Max-Age=0' "POST /logout clears the cookie"
status=$(request -H "Cookie: $cookie" "$base/users/me")
expect_status 401 "$status" "GET /users/me with the cookie after logout"
pass "the cookie authenticates, cross-site posts get 403, logout clears and revokes it"

# Logout revokes the access token and its refresh tokens.
status=$(login bob builder)
expect_status 200 "$status" "POST /token for bob (pair)"
bob_access=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/body")
bob_refresh=$(sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' "$work/body")
status=$(request -X POST -H "Authorization: Bearer $bob_access" "$base/logout")
expect_status 204 "$status" "POST /logout as bob"
status=$(request -H "Authorization: Bearer $bob_access" "$base/users/me")
expect_status 401 "$status" "GET /users/me after logout"
status=$(request -d "refresh_token=$bob_refresh" "$base/token/refresh")
expect_status 400 "$status" "POST /token/refresh after logout"
status=$(request -X POST "$base/logout")
expect_status 401 "$status" "POST /logout without a token"
pass "logout revokes the access token and its refresh tokens"

echo "quickstart smoke: all checks passed"
