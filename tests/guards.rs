//! Guards in real axum servers on 127.0.0.1, driven by reqwest: tokens shaped like each
//! identity provider's, all-of / any-of / nested requirements, predicates, claim values,
//! per-route guards, the exact 403 challenge, and the duplicate-claim trick.

#[path = "support/serve.rs"]
mod serve;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use serve::serve;
use tower_jwt_auth::{
    JwtAuthConfig, JwtAuthConfigBuilder, JwtAuthLayer, Require, TokenIssuer,
    error::ConfigErrorKind,
    grants::{ClaimPath, ClaimPreset},
};

const SECRET: &[u8] = b"a guard test secret, long enough for HS256";

fn builder() -> JwtAuthConfigBuilder {
    JwtAuthConfig::builder().hmac_secret(SECRET)
}

fn token(claims: Value) -> String {
    TokenIssuer::builder().hmac_secret(SECRET).build().unwrap().issue(&claims).unwrap()
}

/// One route guarded by `require`, behind the auth layer built from `config`.
async fn guarded(config: JwtAuthConfig, require: Require) -> String {
    serve(
        Router::new()
            .route("/", get(|| async { "granted" }))
            .route_layer(require)
            .layer(JwtAuthLayer::new(config)),
    )
    .await
}

async fn status(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new().get(base).bearer_auth(token).send().await.unwrap().status()
}

/// Asserts which tokens pass `require` under `config`.
async fn assert_grants(config: JwtAuthConfig, require: Require, cases: &[(Value, bool)]) {
    let base = guarded(config, require).await;
    for (claims, granted) in cases {
        let expected = if *granted { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(status(&base, &token(claims.clone())).await, expected, "claims: {claims}");
    }
}

#[tokio::test]
async fn keycloak_realm_and_client_roles_are_read() {
    let config = builder().claim_preset(ClaimPreset::keycloak("orders")).build().unwrap();
    let shape = |realm: &[&str], client: &[&str]| {
        json!({"sub": "u1", "realm_access": {"roles": realm},
               "resource_access": {"orders": {"roles": client}, "billing": {"roles": ["admin"]}},
               "scope": "openid profile"})
    };
    assert_grants(
        config,
        Require::role("admin"),
        &[
            (shape(&["admin", "offline_access"], &[]), true),
            (shape(&[], &["admin"]), true),
            (shape(&["user"], &["viewer"]), false), // billing's admin is another client's role
        ],
    )
    .await;
}

/// The preset merges realm and client roles; `realm_role` and `client_role` tell them apart,
/// on tokens shaped as Keycloak sends them (`typ: JWT`, `"typ": "Bearer"` in the payload,
/// `azp`, the `account` client's roles beside the API's).
#[tokio::test]
async fn keycloak_realm_roles_and_client_roles_can_be_required_apart() {
    let config = builder().claim_preset(ClaimPreset::keycloak("orders")).build().unwrap();
    let shape = |realm: &[&str], orders: &[&str]| {
        json!({"sub": "u1", "typ": "Bearer", "azp": "orders-web",
               "realm_access": {"roles": realm},
               "resource_access": {"orders": {"roles": orders}, "account": {"roles": ["manage-account", "admin"]}},
               "scope": "openid profile"})
    };
    assert_grants(
        config.clone(),
        Require::realm_role("admin"),
        &[
            (shape(&["offline_access", "admin"], &[]), true),
            (shape(&["offline_access"], &["admin"]), false), // a client role of the same name
            (json!({"sub": "u1", "realm_access": {"roles": "admin"}}), true),
            (json!({"sub": "u1", "realm_access": {"roles": [1, {"admin": true}, ["admin"]]}}), false),
            (json!({"sub": "u1"}), false),
        ],
    )
    .await;
    assert_grants(
        config.clone(),
        Require::client_role("orders", "admin"),
        &[
            (shape(&[], &["admin"]), true),
            (shape(&["admin"], &[]), false),  // a realm role of the same name
            (shape(&[], &["viewer"]), false), // the account client's admin is not the API's
        ],
    )
    .await;
    // Merged, as before: either kind satisfies `role`.
    assert_grants(
        config,
        Require::role("admin")
            .and(Require::client_role("orders", "writer").or(Require::realm_role("writer"))),
        &[
            (shape(&["admin"], &["writer"]), true),
            (shape(&["writer"], &["admin"]), true),
            (shape(&["admin"], &[]), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn auth0_permissions_scope_and_namespaced_claims_are_read() {
    let config = builder()
        .claim_preset(ClaimPreset::auth0())
        .roles_claim(ClaimPath::parse(r"https://example\.com/roles"))
        .build()
        .unwrap();
    assert_grants(
        config.clone(),
        Require::role("read:orders").and(Require::scope("openid")),
        &[
            (json!({"permissions": ["read:orders"], "scope": "openid email"}), true),
            (json!({"permissions": ["read:orders"], "scope": "email"}), false),
        ],
    )
    .await;
    assert_grants(
        config,
        Require::role("manager"),
        &[
            (json!({"https://example.com/roles": ["manager"]}), true),
            (json!({"https://example": {"com/roles": ["manager"]}}), false),
        ],
    )
    .await;
}

#[test]
fn roles_and_scopes_are_never_read_from_a_registered_claim() {
    // `aud` is read as the audience: a path starting there would never grant anything.
    for (roles, scopes) in [("aud", "scope"), ("iss.roles", "scope"), ("roles", "exp"), ("roles", "iat.x")] {
        let error = builder().roles_claim(roles).scopes_claim(scopes).build().unwrap_err();
        assert_eq!(error.kind(), ConfigErrorKind::InvalidValue, "{roles} {scopes}: {error}");
        assert!(error.message().contains("registered claims"), "{roles} {scopes}: {error}");
    }
    for path in ["audience", "sub", "roles.aud", "x.iss"] {
        assert!(builder().roles_claim(path).scopes_claim(path).build().is_ok(), "{path}");
    }
}

#[tokio::test]
async fn entra_okta_and_cognito_shapes_are_read() {
    let entra = builder().claim_preset(ClaimPreset::entra_id()).build().unwrap();
    assert_grants(
        entra,
        Require::role("Orders.Admin").or(Require::scope("Orders.Read")),
        &[
            (json!({"roles": ["Orders.Admin"], "scp": "User.Read"}), true),
            (json!({"scp": "User.Read Orders.Read"}), true),
            (json!({"scp": "User.Read"}), false),
        ],
    )
    .await;
    let okta = builder().claim_preset(ClaimPreset::okta()).build().unwrap();
    assert_grants(
        okta,
        Require::all_of([Require::role("Everyone"), Require::scope("orders.write")]),
        &[
            (json!({"groups": ["Everyone", "Admins"], "scp": ["openid", "orders.write"]}), true),
            (json!({"groups": ["Everyone"], "scp": ["openid"]}), false),
        ],
    )
    .await;
    let cognito = builder().claim_preset(ClaimPreset::cognito()).build().unwrap();
    assert_grants(
        cognito,
        Require::any_role(["admins", "editors"]),
        &[
            (json!({"cognito:groups": ["editors"], "scope": "aws.cognito.signin.user.admin"}), true),
            (json!({"cognito:groups": ["readers"]}), false),
            (json!({"groups": ["admins"]}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn plain_oauth2_scope_string_and_scp_array_are_read_by_default() {
    assert_grants(
        builder().build().unwrap(),
        Require::all_scopes(["orders:read", "orders:write"]),
        &[
            (json!({"scope": "orders:read orders:write"}), true),
            (json!({"scp": ["orders:read", "orders:write"]}), true),
            (json!({"scope": "orders:read", "scp": ["orders:write"]}), true),
            (json!({"scope": "orders:read"}), false),
            (json!({"scope": "orders:read orders:writer"}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_tutorials_single_role_claim_is_read_by_default() {
    assert_grants(
        builder().build().unwrap(),
        Require::role("admin"),
        &[(json!({"sub": "alice", "role": "admin"}), true), (json!({"sub": "bob", "role": "user"}), false)],
    )
    .await;
}

#[tokio::test]
async fn a_scope_string_splits_at_spaces_only_and_a_role_string_is_one_role() {
    // RFC 6749 section 3.3 separates scope-tokens by spaces alone: a tab, a newline or a
    // form feed inside a scope string never reveals another scope.
    assert_grants(
        builder().build().unwrap(),
        Require::scope("admin"),
        &[
            (json!({"scope": "read admin"}), true),
            (json!({"scope": "read\tadmin"}), false),
            (json!({"scope": "read\nadmin"}), false),
            (json!({"scope": "read\u{000c}admin"}), false),
            (json!({"scp": ["read admin"]}), false),
        ],
    )
    .await;
    // The tutorial's single `role` is one role name, spaces and all.
    assert_grants(
        builder().build().unwrap(),
        Require::role("admin"),
        &[
            (json!({"role": "user admin"}), false),
            (json!({"role": "admin"}), true),
            (json!({"roles": ["user", "admin"]}), true),
        ],
    )
    .await;
}

#[tokio::test]
async fn nested_any_and_all_compose() {
    // admin OR (editor AND scope articles:write)
    let require = Require::role("admin").or(Require::role("editor").and(Require::scope("articles:write")));
    assert_grants(
        builder().build().unwrap(),
        require,
        &[
            (json!({"roles": ["admin"]}), true),
            (json!({"roles": ["editor"], "scope": "articles:write"}), true),
            (json!({"roles": ["editor"], "scope": "articles:read"}), false),
            (json!({"scope": "articles:write"}), false),
            (json!({}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn claim_values_must_match_exactly() {
    let require =
        Require::claim_equals("email_verified", true).and(Require::claim_equals("org.tenant", "acme"));
    assert_grants(
        builder().build().unwrap(),
        require,
        &[
            (json!({"email_verified": true, "org": {"tenant": "acme"}}), true),
            (json!({"email_verified": "true", "org": {"tenant": "acme"}}), false),
            (json!({"email_verified": true, "org": {"tenant": "acme-evil"}}), false),
            (json!({"email_verified": true}), false),
        ],
    )
    .await;
}

#[derive(Deserialize)]
struct Employee {
    department: String,
    level: u32,
}

#[tokio::test]
async fn sync_and_async_predicates_over_typed_claims() {
    let senior = Require::predicate(|e: &Employee| e.level >= 3);
    let in_allowed_department = Require::predicate_async(|e: tower_jwt_auth::Claims<Employee>| async move {
        tokio::task::yield_now().await; // stands in for a call to a permission service
        e.department == "finance"
    });
    let router = Router::new()
        .route("/", get(|| async { "granted" }))
        .route_layer(senior.and(in_allowed_department))
        .layer(JwtAuthLayer::new(builder().build().unwrap()).with_claims::<Employee>());
    let base = serve(router).await;
    for (claims, expected) in [
        (json!({"department": "finance", "level": 3}), StatusCode::OK),
        (json!({"department": "finance", "level": 2}), StatusCode::FORBIDDEN),
        (json!({"department": "sales", "level": 5}), StatusCode::FORBIDDEN),
    ] {
        assert_eq!(status(&base, &token(claims.clone())).await, expected, "{claims}");
    }
}

#[tokio::test]
async fn per_route_guards_leave_other_routes_alone() {
    let router = Router::new()
        .route("/admin", get(|| async { "admin" }).route_layer(Require::role("admin")))
        .route("/me", get(|| async { "me" }))
        .layer(JwtAuthLayer::new(builder().build().unwrap()));
    let base = serve(router).await;
    let user = token(json!({"sub": "bob", "role": "user"}));
    let client = reqwest::Client::new();
    let me = client.get(format!("{base}/me")).bearer_auth(&user).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let admin = client.get(format!("{base}/admin")).bearer_auth(&user).send().await.unwrap();
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unsatisfied_guard_answers_403_insufficient_scope_naming_the_requirement() {
    let base = guarded(builder().build().unwrap(), Require::any_scope(["orders:read", "orders:admin"])).await;
    let response = reqwest::Client::new()
        .get(&base)
        .bearer_auth(token(json!({"scope": "profile"})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"api\", error=\"insufficient_scope\", \
         error_description=\"The access token lacks the required permission\", scope=\"orders:read orders:admin\""
    );
    // The JSON body is written into axum's `Body` when the crate's `axum` feature is on;
    // without it the default rejection keeps the body empty (`ResBody::default()`).
    let body = response.bytes().await.unwrap();
    if cfg!(feature = "axum") {
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    } else {
        assert!(body.is_empty());
    }
}

#[tokio::test]
async fn names_that_are_not_scope_tokens_stay_out_of_the_challenge() {
    let challenge = |base: String| async move {
        let response = reqwest::Client::new()
            .get(&base)
            .bearer_auth(token(json!({"role": "user"})))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        response.headers()["www-authenticate"].to_str().unwrap().to_owned()
    };
    let plain = "Bearer realm=\"api\", error=\"insufficient_scope\", \
                 error_description=\"The access token lacks the required permission\"";
    // A quote would add parameters, a space would read as two scopes, a line break would
    // drop the header: the challenge leaves `scope` out instead.
    for name in [r#"admin", error="invalid_token"#, "Domain Admins", "ops\nteam", "caf\u{e9}", ""] {
        let base = guarded(builder().build().unwrap(), Require::role(name).or(Require::role("admin"))).await;
        assert_eq!(challenge(base).await, plain, "{name:?}");
    }
    let base = guarded(builder().build().unwrap(), Require::role("orders:admin")).await;
    assert_eq!(challenge(base).await, format!("{plain}, scope=\"orders:admin\""));
}

#[tokio::test]
async fn behind_an_optional_layer_a_guard_answers_401_as_the_layer_would() {
    let config = builder()
        .realm("shop")
        .responder(|error, _| {
            (error.kind() == tower_jwt_auth::ErrorKind::MissingCredential).then(|| {
                http::Response::builder()
                    .status(303)
                    .header("location", "/login")
                    .body(bytes::Bytes::new())
                    .unwrap()
            })
        })
        .build()
        .unwrap();
    let router = Router::new()
        .route("/", get(|| async { "granted" }))
        .route_layer(Require::role("admin"))
        .layer(JwtAuthLayer::new(config).optional());
    let base = serve(router).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(&base).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the responder answers");
    assert_eq!(response.headers()["location"], "/login");
    // Without a responder, the configured realm.
    let router = Router::new()
        .route("/", get(|| async { "granted" }))
        .route_layer(Require::role("admin"))
        .layer(JwtAuthLayer::new(builder().realm("shop").build().unwrap()).optional());
    let response = client.get(serve(router).await).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"shop\"");
}

#[tokio::test]
async fn grpc_requests_get_permission_denied() {
    let base = guarded(builder().build().unwrap(), Require::role("admin")).await;
    let response = reqwest::Client::new()
        .post(&base)
        .header("content-type", "application/grpc")
        .bearer_auth(token(json!({"role": "user"})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "gRPC answers are trailers-only");
    assert_eq!(response.headers()["grpc-status"], "7");
}

#[tokio::test]
async fn guard_without_the_auth_layer_fails_closed_with_401() {
    let router = Router::new().route("/", get(|| async { "granted" })).route_layer(Require::role("admin"));
    let base = serve(router).await;
    let response =
        reqwest::Client::new().get(&base).bearer_auth(token(json!({"role": "admin"}))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // An optional route where nobody logged in: also 401, never the handler.
    let router = Router::new()
        .route("/", get(|| async { "granted" }))
        .route_layer(Require::role("admin"))
        .layer(JwtAuthLayer::new(builder().build().unwrap()).optional());
    let base = serve(router).await;
    assert_eq!(reqwest::get(&base).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_role_claim_repeated_in_the_payload_grants_nothing() {
    // A token with "roles" twice: a map would keep the last ("admin"). It must not pass.
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"roles":["user"],"roles":["admin"],"exp":{exp}}}"#));
    let message = format!("{header}.{payload}");
    let _ = builder().build().unwrap(); // installs the provider jsonwebtoken's `sign` uses
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap();
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    let base = guarded(builder().build().unwrap(), Require::role("admin")).await;
    assert_eq!(status(&base, &format!("{message}.{signature}")).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn responder_shapes_guard_rejections_too() {
    let config = builder()
        .responder(|error, _| {
            (error.kind() == tower_jwt_auth::ErrorKind::InsufficientScope).then(|| {
                http::Response::builder().status(404).body(bytes::Bytes::from_static(b"not found")).unwrap()
            })
        })
        .build()
        .unwrap();
    let base = guarded(config, Require::role("admin")).await;
    assert_eq!(status(&base, &token(json!({"role": "user"}))).await, StatusCode::NOT_FOUND);
}

/// A claims type per route, `Typed<0>` to `Typed<19>`: guards read the verified token,
/// whatever the claims type.
#[derive(Deserialize)]
struct Typed<const N: usize> {
    role: String,
}

async fn typed_role<const N: usize>(
    axum::Extension(claims): axum::Extension<tower_jwt_auth::Claims<Typed<N>>>,
) -> String {
    format!("{N}:{}", claims.role)
}

fn typed_route<const N: usize>(router: Router) -> Router {
    let layer = JwtAuthLayer::new(builder().build().unwrap()).with_claims::<Typed<N>>();
    let route =
        Router::new().route("/", get(typed_role::<N>)).route_layer(Require::role("admin")).layer(layer);
    router.nest(&format!("/{N}"), route)
}

#[tokio::test]
async fn guards_find_the_verified_token_whatever_the_claims_type() {
    let mut router = Router::new();
    router = typed_route::<0>(router);
    router = typed_route::<1>(router);
    router = typed_route::<2>(router);
    router = typed_route::<3>(router);
    router = typed_route::<4>(router);
    router = typed_route::<5>(router);
    router = typed_route::<6>(router);
    router = typed_route::<7>(router);
    router = typed_route::<8>(router);
    router = typed_route::<9>(router);
    router = typed_route::<10>(router);
    router = typed_route::<11>(router);
    router = typed_route::<12>(router);
    router = typed_route::<13>(router);
    router = typed_route::<14>(router);
    router = typed_route::<15>(router);
    router = typed_route::<16>(router);
    router = typed_route::<17>(router);
    router = typed_route::<18>(router);
    router = typed_route::<19>(router);
    let base = serve(router).await;
    let client = reqwest::Client::new();
    let (admin, user) = (token(json!({"role": "admin"})), token(json!({"role": "user"})));
    for n in 0..20 {
        let response = client.get(format!("{base}/{n}")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "route {n}");
        assert_eq!(response.text().await.unwrap(), format!("{n}:admin"));
        assert_eq!(status(&format!("{base}/{n}"), &user).await, StatusCode::FORBIDDEN, "route {n}");
    }
}

/// The verified token in the extensions is the innermost layer's; an optional layer that
/// finds no credential of its own leaves none behind, whatever layer put one there.
#[tokio::test]
async fn the_verified_token_is_found_in_the_extensions_and_an_optional_layer_leaves_none() {
    use tower_jwt_auth::{TokenSource, claims::VerifiedToken};
    let describe = |request: axum::extract::Request| async move {
        match request.extensions().get::<VerifiedToken>() {
            Some(token) => token.grants().roles().collect::<Vec<_>>().join(","),
            None => "anonymous".to_owned(),
        }
    };
    // The outer layer reads a cookie into its own claims type; the inner one, optional,
    // reads the Authorization header.
    let outer = JwtAuthLayer::new(builder().token_sources([TokenSource::cookie("session")]).build().unwrap())
        .with_claims::<Typed<100>>();
    let inner = JwtAuthLayer::new(builder().build().unwrap()).optional();
    let base = serve(Router::new().route("/", get(describe)).layer(inner).layer(outer)).await;
    let client = reqwest::Client::new();
    let get = |cookie: Option<String>, bearer: Option<String>| {
        let mut request = client.get(&base);
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("session={cookie}"));
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let (admin, user) = (token(json!({"role": "admin"})), token(json!({"role": "user"})));
    assert_eq!(get(Some(admin.clone()), Some(user)).await, "user", "the inner layer's token");
    assert_eq!(get(Some(admin), None).await, "anonymous", "the outer layer's token was taken out");
}

/// A hyper-style service without a router (a `match` on method and path), behind an
/// optional auth layer and a method policy keyed by HTTP method and path, served for real.
#[tokio::test]
async fn a_method_policy_guards_a_service_without_a_router_by_http_method_and_path() {
    use axum::body::Body;
    use axum::http::{Method, Request, Response};
    use tower::ServiceBuilder;
    use tower_jwt_auth::guard::MethodPolicy;

    let policy = MethodPolicy::deny_unlisted()
        .public("GET /health")
        .authenticated("GET /users/me")
        .require("GET /orders/*", Require::scope("orders:read"))
        .require("POST /orders", Require::scope("orders:write"))
        .build()
        .unwrap();
    let dispatch = tower::service_fn(|request: Request<Body>| async move {
        let body = match (request.method(), request.uri().path()) {
            (&Method::GET, "/health") => "up".to_owned(),
            (&Method::GET, "/users/me") => "me".to_owned(),
            (&Method::GET, path) if path.starts_with("/orders/") => format!("order {}", &path[8..]),
            (&Method::POST, "/orders") => "created".to_owned(),
            // What the policy would never let through: visible if it did.
            (method, path) => format!("reached {method} {path}"),
        };
        Ok::<_, std::convert::Infallible>(Response::new(Body::from(body)))
    });
    let service = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(builder().build().unwrap()).optional())
        .layer(policy)
        .service(dispatch);
    let base = serve(Router::new().fallback_service(service)).await;
    let client = reqwest::Client::new();
    let reader = token(json!({"sub": "bob", "scope": "orders:read"}));
    let writer = token(json!({"sub": "alice", "scope": "orders:read orders:write"}));
    let call = |method: reqwest::Method, path: &str, token: Option<&str>| {
        let request = client.request(method, format!("{base}{path}"));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let challenge =
                response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            (status, challenge, response.text().await.unwrap())
        }
    };
    use reqwest::Method as M;

    assert_eq!(call(M::GET, "/health", None).await.2, "up");
    let (status, challenge, _) = call(M::GET, "/users/me", None).await;
    assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(r#"Bearer realm="api""#)));
    assert_eq!(call(M::GET, "/users/me", Some(&reader)).await.2, "me");
    assert_eq!(call(M::GET, "/orders/42", Some(&reader)).await.2, "order 42");
    let (status, challenge, _) = call(M::POST, "/orders", Some(&reader)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(r#"scope="orders:write""#)
    );
    assert_eq!(call(M::POST, "/orders", Some(&writer)).await.2, "created");

    // Unlisted, or in a form a router might read as a listed path: 403, never the handler.
    for (method, path) in [
        (M::DELETE, "/orders/42"),
        (M::GET, "/orders/42/items"),
        (M::GET, "/admin"),
        (M::GET, "//users/me"),
        (M::GET, "/users/me/"),
        (M::GET, "/users/%6De"),
        (M::GET, "/orders//42"),
    ] {
        let (status, challenge, body) = call(method.clone(), path, Some(&writer)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        let challenge = challenge.unwrap_or_default();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#) && !challenge.contains("scope=\""),
            "{challenge}"
        );
        assert!(!body.contains("reached"), "{method} {path} reached the service: {body}");
    }
}
