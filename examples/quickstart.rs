//! The FastAPI "OAuth2 with Password (and hashing), Bearer with JWT tokens" tutorial, in Axum.
//!
//! A login endpoint checks a password against an argon2 hash and signs a short-lived HS256
//! access token and a refresh token with [`TokenIssuer`]; [`JwtAuthLayer`] guards the other
//! routes and hands the handlers the typed claims through the `Claims<User>` extractor; a
//! [`Require`] guard keeps `/admin` for the `admin` role. Refresh tokens rotate (a reused one
//! revokes its whole session), and `/logout` revokes the session through [`Revocations`].
//!
//! Browsers get the access token as an `HttpOnly; Secure; SameSite=Strict` cookie too
//! ([`TokenCookie`] named `__Host-access_token`, which no other subdomain can set or
//! overwrite), which the layer reads when no `Authorization` header is sent; a
//! state-changing request authenticated by that cookie must come from this origin
//! (`Sec-Fetch-Site` / `Origin`), or it gets 403.
//!
//! ```text
//! cargo run --example quickstart --features axum
//! ```
//!
//! | route | access | answer |
//! |---|---|---|
//! | `GET /` | public | a login page for a browser (`Accept: text/html`), else how to use the API |
//! | `POST /token` | public | form `username`, `password` → `{"access_token", "token_type": "bearer", "expires_in", "refresh_token", "refresh_expires_in"}` |
//! | `POST /token/refresh` | public | form `refresh_token` → a new pair; the old refresh token is used up (400 `invalid_grant` if reused, revoked or bad) |
//! | `GET /users/me` | any valid token | `{"username", "role"}` |
//! | `GET /admin` | role `admin` | 403 `insufficient_scope` for other roles |
//! | `POST /logout` | any valid token | 204; the access token and its refresh tokens are revoked, the cookie cleared |
//!
//! Demo users: `alice` / `wonderland` (role `admin`) and `bob` / `builder` (role `user`).
//!
//! Environment (read by `examples/common`, shared with the other examples):
//!
//! - `PORT`: the port on 127.0.0.1 (default 3000).
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. Unset, a random one is made at
//!   start, so tokens do not survive a restart.
//! - `JWT_ISSUER`: the `iss` of issued tokens and the one required (default `quickstart`).
//! - `JWT_AUDIENCE`: the `aud` of issued tokens and the one required (default
//!   `quickstart-api`).
//!
//! Any HS256 token signed with that secret, carrying `sub`, `role`, `exp` and the configured
//! `iss` and `aud`, is accepted, whoever minted it.

pub mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::http::header::{ACCEPT, CACHE_CONTROL, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_jwt_auth::{
    Claims, JwtAuthConfig, JwtAuthLayer, Require, TokenIssuer, TokenSource,
    cookie::TokenCookie,
    issue::{RefreshErrorKind, TokenPair},
    revoke::{RevocationErrorKind, Revocations},
};

use common::Settings;

const DEFAULT_PORT: u16 = 3000;
const REALM: &str = "quickstart";

/// The demo users: name, password, role.
const DEMO_USERS: [(&str, &str, &str); 2] = [("alice", "wonderland", "admin"), ("bob", "builder", "user")];

/// The claims the protected routes read from a verified token.
#[derive(Debug, Deserialize)]
struct User {
    sub: String,
    role: String,
    exp: i64,
}

/// The claims put into a new token; the issuer adds `exp`, `iat`, `iss`, `aud` and the rest.
#[derive(Serialize)]
struct NewToken {
    sub: String,
    role: &'static str,
}

/// The OAuth2 password form; `grant_type` and `scope`, if sent, are ignored.
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

/// The OAuth2 refresh form; `grant_type`, if sent, is ignored.
#[derive(Deserialize)]
struct RefreshForm {
    refresh_token: String,
}

/// A user as stored: the PHC string of the password's argon2 hash, never the password.
struct Account {
    password_hash: String,
    role: &'static str,
}

/// The user "database", plus a hash to check against when the user does not exist.
struct Users {
    accounts: HashMap<&'static str, Account>,
    dummy_hash: String,
}

#[derive(Clone)]
struct AppState {
    users: Arc<Users>,
    issuer: TokenIssuer,
    revocations: Revocations,
    cookie: TokenCookie,
}

#[tokio::main]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("quickstart: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env(DEFAULT_PORT)?;
    let app = app(&settings)?;
    let address = format!("127.0.0.1:{}", settings.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    let port = listener.local_addr().map_or(settings.port, |bound| bound.port());
    print_usage(port);
    axum::serve(listener, app).await.map_err(|error| format!("server error: {error}"))
}

/// The whole application for these settings (the browser test serves it too).
pub fn app(settings: &Settings) -> Result<Router, String> {
    let issuer = settings.token_issuer(TokenIssuer::builder())?;
    // One instance: an in-memory list. Several behind a load balancer: the `redis` feature.
    let revocations = Revocations::in_memory();
    let cookie = TokenCookie::new("__Host-access_token")
        .map_err(|error| format!("cannot make the cookie: {error}"))?;
    let config = auth_config(settings, &revocations, &cookie)?;
    let users = Arc::new(demo_users()?);
    Ok(router(AppState { users, issuer, revocations, cookie }, config))
}

fn router(state: AppState, config: JwtAuthConfig) -> Router {
    // Layers wrap what is above them: `/admin` is guarded, then both routes are authenticated.
    // A caller without the role gets 403 with `error="insufficient_scope", scope="admin"`.
    let protected = Router::new()
        .route("/admin", get(admin))
        .route_layer(Require::role("admin"))
        .route("/users/me", get(me))
        .route("/logout", post(logout))
        .route_layer(JwtAuthLayer::new(config).with_claims::<User>());
    Router::new()
        .route("/", get(index))
        .route("/token", post(login))
        .route("/token/refresh", post(refresh))
        .merge(protected)
        .with_state(state)
}

// ---- configuration ----

/// Verifies with the secret itself, not the issuer, so tokens minted elsewhere work too.
fn auth_config(
    settings: &Settings,
    revocations: &Revocations,
    cookie: &TokenCookie,
) -> Result<JwtAuthConfig, String> {
    settings
        .auth_config()
        // The header for API clients, the cookie for browsers (with the CSRF check on).
        .token_sources([TokenSource::bearer(), cookie.source()])
        .realm(REALM)
        .revocations(revocations.clone())
        .build()
        .map_err(|error| format!("cannot build the JWT configuration: {error}"))
}

fn print_usage(port: u16) {
    let base = format!("http://127.0.0.1:{port}");
    let field = |name: &str| format!("sed 's/.*\"{name}\":\"\\([^\"]*\\)\".*/\\1/'");
    println!("Listening on {base}. Open it in a browser to log in there, or try with curl");
    println!("(bob / builder logs in too, but /admin answers him 403):");
    println!();
    println!("  LOGIN=$(curl -s -d username=alice -d password=wonderland {base}/token)");
    println!("  TOKEN=$(echo \"$LOGIN\" | {})", field("access_token"));
    println!("  REFRESH=$(echo \"$LOGIN\" | {})", field("refresh_token"));
    println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/users/me; echo");
    println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/admin; echo");
    println!("  # a new pair; $REFRESH is spent (using it again revokes the session)");
    println!("  curl -s --data-urlencode \"refresh_token=$REFRESH\" {base}/token/refresh; echo");
    println!("  # log out: 204, and the token is revoked (401 from now on)");
    println!(
        "  curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST -H \"Authorization: Bearer $TOKEN\" {base}/logout"
    );
    println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {base}/users/me; echo");
    println!();
}

// ---- passwords ----

fn demo_users() -> Result<Users, String> {
    let mut accounts = HashMap::new();
    for (name, password, role) in DEMO_USERS {
        accounts.insert(name, Account { password_hash: hash_password(password)?, role });
    }
    let dummy_hash = hash_password("a password no one has")?;
    Ok(Users { accounts, dummy_hash })
}

/// Argon2id with the default parameters and a random salt, as a PHC string.
fn hash_password(password: &str) -> Result<String, String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|error| format!("cannot hash a demo password: {error}"))?;
    Ok(hash.to_string())
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

impl Users {
    /// The claims for a new token if the password is right. An unknown user costs the same
    /// hash as a known one, so the timing does not tell which names exist.
    fn authenticate(&self, form: &LoginForm) -> Option<NewToken> {
        let account = self.accounts.get(form.username.as_str());
        let phc = account.map_or(&self.dummy_hash, |account| &account.password_hash);
        let matches = password_matches(&form.password, phc);
        let account = account.filter(|_| matches)?;
        Some(NewToken { sub: form.username.clone(), role: account.role })
    }

    /// The claims for a refreshed token, read again so a changed role takes effect; `None`
    /// when the user is gone.
    fn current(&self, sub: &str) -> Option<NewToken> {
        self.accounts.get(sub).map(|account| NewToken { sub: sub.to_owned(), role: account.role })
    }
}

// ---- handlers ----

/// `GET /`: the page below for a browser (one that accepts `text/html`), else the routes as
/// plain text for curl.
async fn index(headers: HeaderMap) -> Response {
    let wants_html = headers.get_all(ACCEPT).iter().filter_map(|value| value.to_str().ok()).any(|accept| {
        accept.split(',').any(|item| item.split(';').next().unwrap_or("").trim() == "text/html")
    });
    if wants_html { Html(PAGE).into_response() } else { USAGE.into_response() }
}

const USAGE: &str = "tower-jwt-auth quickstart\n\
     \n\
     POST /token     form fields username, password -> {\"access_token\": ..., \"refresh_token\": ..., ...}\n\
     POST /token/refresh  form field refresh_token -> a new pair (each refresh token works once)\n\
     POST /logout    with Authorization: Bearer <token> -> 204, the session is revoked\n\
     GET  /users/me  with Authorization: Bearer <token> -> {\"username\": ..., \"role\": ...}\n\
     GET  /admin     the same, for role admin only\n\
     \n\
     Demo users: alice / wonderland (admin), bob / builder (user). A browser gets a login page here.\n";

/// The browser's page: a login form posting to `/token` (the answer sets the `HttpOnly`
/// cookie, which this script cannot read), who is logged in (from `/users/me`, sent with
/// the cookie), and a logout button (`POST /logout`, a same-origin request the cross-site
/// check lets through). Plain HTML and a few lines of script: no framework, nothing fetched
/// from elsewhere.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tower-jwt-auth quickstart</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 30rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; }
  label { display: block; margin: 0.5rem 0; }
  input { display: block; width: 100%; padding: 0.3rem; box-sizing: border-box; }
  button { margin-top: 0.5rem; padding: 0.3rem 1rem; }
  #problem { color: #b00020; }
</style>
</head>
<body>
<h1>tower-jwt-auth quickstart</h1>
<p id="who" role="status">Checking who you are&hellip;</p>
<form id="login" method="post" action="/token" hidden>
  <label>Username <input name="username" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
  <p><small>Demo users: alice / wonderland (admin), bob / builder (user).</small></p>
</form>
<button id="logout" type="button" hidden>Log out</button>
<p id="problem" role="alert"></p>
<script>
const who = document.getElementById("who");
const login = document.getElementById("login");
const logout = document.getElementById("logout");
const problem = document.getElementById("problem");

async function show() {
  const answer = await fetch("/users/me");
  const user = answer.ok ? await answer.json() : null;
  who.textContent = user ? `Logged in as ${user.username} (role ${user.role}).` : "Not logged in.";
  login.hidden = user !== null;
  logout.hidden = user === null;
}

login.addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await fetch("/token", { method: "POST", body: new URLSearchParams(new FormData(login)) });
  problem.textContent = answer.ok ? "" : "Incorrect username or password.";
  login.reset();
  await show();
});

logout.addEventListener("click", async () => {
  const answer = await fetch("/logout", { method: "POST" });
  problem.textContent = answer.ok ? "" : `Logging out failed (HTTP ${answer.status}).`;
  await show();
});

show();
</script>
</body>
</html>
"#;

async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let users = Arc::clone(&state.users);
    // Argon2 is deliberately slow: keep it off the async workers.
    match tokio::task::spawn_blocking(move || users.authenticate(&form)).await {
        Ok(Some(claims)) => token_response(&state.issuer, &state.cookie, &claims),
        Ok(None) => bad_credentials(),
        Err(_) => server_error(),
    }
}

fn token_response(issuer: &TokenIssuer, cookie: &TokenCookie, claims: &NewToken) -> Response {
    match issuer.issue_pair(claims) {
        Ok(pair) => pair_response(cookie, pair),
        Err(_) => server_error(),
    }
}

/// The pair as JSON, and the access token as a cookie for browsers.
fn pair_response(cookie: &TokenCookie, pair: TokenPair) -> Response {
    let Ok(set_cookie) = cookie.set(&pair.access_token, Duration::from_secs(pair.expires_in)) else {
        return server_error();
    };
    // RFC 6749 section 5.1: token responses are not cached.
    ([(CACHE_CONTROL, HeaderValue::from_static("no-store")), (SET_COOKIE, set_cookie)], Json(pair))
        .into_response()
}

/// Rotation: the refresh token is used up, and a new pair continues the session. Using one
/// twice revokes the session, whoever holds its tokens.
async fn refresh(State(state): State<AppState>, Form(form): Form<RefreshForm>) -> Response {
    let grant = match state.issuer.redeem(&form.refresh_token, &state.revocations).await {
        Ok(grant) => grant,
        Err(error) if matches!(error.kind(), RefreshErrorKind::Store(_)) => return unavailable(),
        Err(_) => return invalid_grant(),
    };
    let Some(claims) = state.users.current(grant.subject()) else {
        return invalid_grant();
    };
    match state.issuer.continue_session(&grant, &claims) {
        Ok(pair) => pair_response(&state.cookie, pair),
        Err(_) => server_error(),
    }
}

/// Revokes the caller's access token and every refresh token of its session, and clears
/// the cookie.
async fn logout(State(state): State<AppState>, user: Claims<User>) -> Response {
    let logged_out = [(SET_COOKIE, state.cookie.clear())];
    match state.issuer.logout(user.token(), &state.revocations).await {
        Ok(()) => (StatusCode::NO_CONTENT, logged_out).into_response(),
        // Recorded here; a shared store gets it when it is back.
        Err(error) if error.kind() == RevocationErrorKind::Deferred => {
            (StatusCode::NO_CONTENT, logged_out).into_response()
        }
        Err(_) => unavailable(),
    }
}

async fn me(user: Claims<User>) -> Json<serde_json::Value> {
    Json(json!({"username": user.sub, "role": user.role}))
}

/// Only reached with role `admin`: the guard in [`router`] answered everyone else.
async fn admin(user: Claims<User>) -> Json<serde_json::Value> {
    Json(json!({"message": format!("Welcome to the admin area, {}", user.sub), "token_expires_at": user.exp}))
}

// ---- error answers ----

fn bad_credentials() -> Response {
    let body = Json(json!({"detail": "Incorrect username or password"}));
    // The realm the layer's own 401s carry.
    let challenge = HeaderValue::try_from(format!("Bearer realm=\"{REALM}\""))
        .unwrap_or(HeaderValue::from_static("Bearer"));
    (StatusCode::UNAUTHORIZED, [(WWW_AUTHENTICATE, challenge)], body).into_response()
}

/// RFC 6749 section 5.2; the same answer whatever was wrong with the refresh token.
fn invalid_grant() -> Response {
    let body = Json(json!({"error": "invalid_grant", "error_description": "The refresh token is invalid"}));
    (StatusCode::BAD_REQUEST, body).into_response()
}

fn unavailable() -> Response {
    let body = Json(json!({"detail": "Try again later"}));
    (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "5")], body).into_response()
}

fn server_error() -> Response {
    let body = Json(json!({"detail": "Internal server error"}));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}
