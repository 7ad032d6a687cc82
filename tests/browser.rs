//! The quickstart's login page in a real browser: headless Chromium, driven by Selenium,
//! against `examples/quickstart.rs` served on 127.0.0.1.
//!
//! The browser logs in with the page's form (the answer sets the `HttpOnly` cookie), sees
//! who it is, reloads (the cookie holds), meets a page on another origin whose form posts
//! to `/logout` (refused with 403 by the cross-site rule, on the `Sec-Fetch-Site` and
//! `Origin` headers the browser really sends), logs out (the cookie goes), and logs in again.
//!
//! What it needs beyond cargo is set up on first use: Chromium and chromedriver by
//! `.ci/browser-env.sh` (Debian's `chromium` and `chromium-driver` when missing), Selenium
//! by `.ci/python-env.sh` (into `target/interop-venv`). When either cannot be set up the
//! test fails, saying why; it never passes without a browser.

#[path = "../examples/quickstart.rs"]
#[allow(dead_code)]
mod quickstart;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/setup.rs"]
mod setup;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::get;

use quickstart::common::Settings;
use serve::serve;
use setup::{repo_root, run_env_script};

/// One request as the quickstart saw it, and its answer.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    sec_fetch_site: Option<String>,
    origin: Option<String>,
    status: u16,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    let (sec_fetch_site, origin) = {
        let header =
            |name: &str| request.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        (header("sec-fetch-site"), header("origin"))
    };
    let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    log.lock().unwrap().push(Seen { method, path, sec_fetch_site, origin, status });
    response
}

/// A page on another origin (another port of 127.0.0.1: the same site, another origin)
/// whose form posts to the quickstart's `/logout` as soon as it loads, as a forged request
/// would.
fn other_origin(app: &str) -> Router {
    let page = format!(
        "<!doctype html><title>another origin</title>\
         <form method=\"post\" action=\"{app}/logout\"></form>\
         <script>document.forms[0].submit();</script>"
    );
    Router::new().route("/", get(move || async move { Html(page) }))
}

fn set_up(script: &str, what: &str) -> PathBuf {
    run_env_script(script, what).unwrap_or_else(|why| {
        panic!("the browser test needs {what} (.ci/{script} prepares it); it could not be set up:\n{why}")
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_page_logs_in_holds_the_cookie_refuses_a_cross_site_logout_and_logs_out() {
    let chromedriver = set_up("browser-env.sh", "chromedriver");
    let python = set_up("python-env.sh", "python with selenium");

    let settings = Settings {
        port: 0,
        secret: b"the browser test's secret, 32 bytes or more".to_vec(),
        issuer: "quickstart".to_owned(),
        audience: "quickstart-api".to_owned(),
    };
    let log = Log::default();
    let app = quickstart::app(&settings).unwrap().layer(middleware::from_fn_with_state(log.clone(), record));
    let app_url = serve(app).await;
    let other_url = serve(other_origin(&app_url)).await;

    let script = repo_root().join("tests/browser/quickstart.py");
    let run = {
        let (app_url, other_url) = (app_url.clone(), other_url.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(&python).arg(&script).args([&app_url, &other_url]).arg(&chromedriver).output()
        })
    };
    let output = run.await.unwrap().expect("could not run the browser script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let seen = log.lock().unwrap().clone();
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stdout}\n{stderr}\nthe quickstart saw: {seen:#?}",
        output.status
    );
    assert_eq!(stdout.matches("ok: ").count(), 8, "every step reports: {stdout}");

    // What the browser really sent, as the server saw it.
    let logouts: Vec<&Seen> =
        seen.iter().filter(|seen| seen.method == "POST" && seen.path == "/logout").collect();
    let [forged, own] = logouts[..] else { panic!("two logouts expected, the quickstart saw: {logouts:#?}") };
    assert_eq!(forged.status, 403, "the other origin's logout: {forged:?}");
    assert_eq!(
        forged.origin.as_deref(),
        Some(other_url.as_str()),
        "the browser names the other origin: {forged:?}"
    );
    assert!(
        matches!(forged.sec_fetch_site.as_deref(), Some("same-site" | "cross-site")),
        "the browser marks the forged post as from another origin: {forged:?}"
    );
    assert_eq!(own.status, 204, "the page's own logout: {own:?}");
    assert_eq!(own.sec_fetch_site.as_deref(), Some("same-origin"), "the page's own logout: {own:?}");
    assert_eq!(own.origin.as_deref(), Some(app_url.as_str()), "the page's own logout: {own:?}");

    let logins: Vec<u16> = seen.iter().filter(|seen| seen.path == "/token").map(|seen| seen.status).collect();
    assert_eq!(logins, [401, 200, 200], "a wrong password, alice, then bob: {seen:#?}");
    let page_loads = seen.iter().filter(|seen| seen.method == "GET" && seen.path == "/").count();
    assert!(page_loads >= 4, "the page was loaded, reloaded and visited again: {seen:#?}");
}
