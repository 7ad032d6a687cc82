//! Revocation with the in-memory list, and refresh-token rotation, through a real axum
//! server driven by reqwest: revoked tokens get 401 `invalid_token` even when the token
//! cache holds them, "log out everywhere" covers what was issued before, a reused refresh
//! token revokes its whole family, and a refresh token is never an access token.

#[path = "support/serve.rs"]
mod serve;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::json;
use serve::{me_and_logout, serve};
use tower_jwt_auth::{
    ErrorKind, JwtAuthConfig, JwtAuthLayer, TokenIssuer,
    error::ConfigErrorKind,
    issue::{IssueErrorKind, RefreshErrorKind},
    revoke::{RevocationErrorKind, Revocations},
};

const SECRET: &[u8] = b"a test secret that is long enough for HS256!";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "api.test";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn at(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds as u64)
}

fn issuer() -> TokenIssuer {
    TokenIssuer::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).build().unwrap()
}

fn config(revocations: &Revocations) -> JwtAuthConfig {
    JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .revocations(revocations.clone())
        .build()
        .unwrap()
}

/// A server with `/me` and `/logout` (which revokes the caller's session), and its layer.
struct Server {
    base: String,
    layer: JwtAuthLayer,
    client: reqwest::Client,
}

impl Server {
    async fn start(revocations: &Revocations) -> Self {
        let layer = JwtAuthLayer::new(config(revocations));
        let base = serve(me_and_logout(layer.clone(), issuer(), revocations.clone())).await;
        Self { base, layer, client: reqwest::Client::new() }
    }

    async fn me(&self, token: &str) -> StatusCode {
        let response = self.client.get(format!("{}/me", self.base)).bearer_auth(token).send().await.unwrap();
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
        }
        status
    }

    async fn logout(&self, token: &str) -> StatusCode {
        self.client.post(format!("{}/logout", self.base)).bearer_auth(token).send().await.unwrap().status()
    }
}

#[tokio::test]
async fn a_revoked_token_is_refused_even_when_the_token_cache_holds_it() {
    let revocations = Revocations::in_memory();
    let server = Server::start(&revocations).await;
    let (first, second) = (
        issuer().issue(&json!({"sub": "alice"})).unwrap(),
        issuer().issue(&json!({"sub": "alice"})).unwrap(),
    );
    assert_eq!(server.me(&first).await, StatusCode::OK);
    assert_eq!(server.me(&first).await, StatusCode::OK);
    assert_eq!(server.logout(&first).await, StatusCode::NO_CONTENT);
    let hits_before = server.layer.cache_stats().unwrap().hits;
    assert_eq!(server.me(&first).await, StatusCode::UNAUTHORIZED);
    assert!(server.layer.cache_stats().unwrap().hits > hits_before, "refused on a cache hit");
    // Only that token: another token of the same subject still works.
    assert_eq!(server.me(&second).await, StatusCode::OK);
    assert_eq!(revocations.len(), 1);
}

#[tokio::test]
async fn log_out_everywhere_refuses_what_was_issued_before_and_accepts_what_came_after() {
    let revocations = Revocations::in_memory();
    let server = Server::start(&revocations).await;
    let t = now();
    let old = issuer().issue(&json!({"sub": "alice", "iat": t - 20, "nbf": t - 20})).unwrap();
    let newer = issuer().issue(&json!({"sub": "alice", "iat": t - 5, "nbf": t - 5})).unwrap();
    let bob = issuer().issue(&json!({"sub": "bob", "iat": t - 20, "nbf": t - 20})).unwrap();
    let no_iat = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": t + 600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    for token in [&old, &newer, &bob] {
        assert_eq!(server.me(token).await, StatusCode::OK);
    }
    // Without `iat` a token's lifetime has no bound a subject revocation could cover (it
    // would pass once its `exp` came within the list's longest lifetime, by then perhaps
    // after the entry went): with revocations it is refused from the start.
    assert_eq!(server.me(&no_iat).await, StatusCode::UNAUTHORIZED);
    assert_eq!(config(&revocations).verify(&no_iat).unwrap_err().kind(), ErrorKind::MissingClaim);
    let plain =
        JwtAuthConfig::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    assert!(plain.verify(&no_iat).is_ok(), "only revocations require it");
    revocations.revoke_subject("alice", at(t - 10)).await.unwrap();
    assert_eq!(server.me(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.me(&newer).await, StatusCode::OK);
    assert_eq!(server.me(&bob).await, StatusCode::OK);
    // The same second as the instant counts as before it.
    revocations.revoke_subject("alice", at(t - 5)).await.unwrap();
    assert_eq!(server.me(&newer).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_family() {
    let revocations = Revocations::in_memory();
    let server = Server::start(&revocations).await;
    let issuer = issuer();
    let first = issuer.issue_pair(&json!({"sub": "alice", "role": "admin"})).unwrap();
    assert_eq!(first.token_type, "bearer");
    assert_eq!(first.expires_in, 900);
    assert_eq!(server.me(&first.access_token).await, StatusCode::OK);

    let grant = issuer.redeem(&first.refresh_token, &revocations).await.unwrap();
    assert_eq!(grant.subject(), "alice");
    let second = issuer.continue_session(&grant, &json!({"role": "admin"})).unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(server.me(&second.access_token).await, StatusCode::OK);
    // Another family of the same user is not affected by what follows.
    let other = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();

    // The first refresh token again: reuse. The family dies, access tokens included.
    let reused = issuer.redeem(&first.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(reused.kind(), RefreshErrorKind::Reused);
    assert_eq!(server.me(&first.access_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.me(&second.access_token).await, StatusCode::UNAUTHORIZED);
    let revoked = issuer.redeem(&second.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(revoked.kind(), RefreshErrorKind::Revoked);
    assert_eq!(server.me(&other.access_token).await, StatusCode::OK);
    assert!(issuer.redeem(&other.refresh_token, &revocations).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redemptions_of_one_refresh_token_let_exactly_one_through() {
    let revocations = Revocations::in_memory();
    let issuer = issuer();
    let pair = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (issuer, revocations, token) =
                (issuer.clone(), revocations.clone(), pair.refresh_token.clone());
            tokio::spawn(
                async move { issuer.redeem(&token, &revocations).await.map_err(|error| error.kind()) },
            )
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => granted += 1,
            Err(kind) => {
                assert!(matches!(kind, RefreshErrorKind::Reused | RefreshErrorKind::Revoked), "{kind:?}")
            }
        }
    }
    assert_eq!(granted, 1);
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_its_refresh_family() {
    let revocations = Revocations::in_memory();
    let server = Server::start(&revocations).await;
    let issuer = issuer();
    let pair = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    assert_eq!(server.me(&pair.access_token).await, StatusCode::OK);
    assert_eq!(server.logout(&pair.access_token).await, StatusCode::NO_CONTENT);
    assert_eq!(server.me(&pair.access_token).await, StatusCode::UNAUTHORIZED);
    let error = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Revoked);
    // Logging out twice is harmless.
    let config = config(&Revocations::in_memory());
    let claims = config.verify(&pair.access_token).unwrap();
    issuer.logout(claims.token(), &revocations).await.unwrap();
}

#[tokio::test]
async fn log_out_everywhere_covers_refresh_tokens_too() {
    let revocations = Revocations::in_memory();
    let issuer = issuer();
    let pair = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    revocations.revoke_subject("alice", SystemTime::now()).await.unwrap();
    let error = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Revoked);
}

#[tokio::test]
async fn a_refresh_token_is_never_an_access_token_and_the_reverse() {
    let revocations = Revocations::in_memory();
    let server = Server::start(&revocations).await;
    let issuer = issuer();
    let pair = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    // Same key, same issuer and audience: still refused, by its `typ`.
    assert_eq!(server.me(&pair.refresh_token).await, StatusCode::UNAUTHORIZED);
    let plain = JwtAuthConfig::builder().hmac_secret(SECRET).build().unwrap();
    assert_eq!(plain.verify(&pair.refresh_token).unwrap_err().kind(), ErrorKind::InvalidType);
    // An access token cannot be redeemed, nor can a refresh token of another key.
    let error = issuer.redeem(&pair.access_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Invalid);
    let stranger = TokenIssuer::builder()
        .hmac_secret(b"another secret, also long enough for HS256")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap()
        .issue_pair(&json!({"sub": "alice"}))
        .unwrap();
    let error = issuer.redeem(&stranger.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Invalid);
    assert!(issuer.redeem("not a token", &revocations).await.is_err());
}

#[tokio::test]
async fn a_session_continues_only_for_its_own_subject() {
    let revocations = Revocations::in_memory();
    let issuer = issuer();
    let pair = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    let grant = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap();
    let invalid = Err(IssueErrorKind::InvalidClaims);
    assert_eq!(
        issuer.continue_session(&grant, &json!({"sub": "mallory"})).map_err(|e| e.kind()).map(drop),
        invalid
    );
    assert!(issuer.continue_session(&grant, &json!({"sub": "alice"})).is_ok());
    // A pair needs a subject, and a new session cannot bring its own id.
    assert_eq!(issuer.issue_pair(&json!({"role": "admin"})).map_err(|e| e.kind()).map(drop), invalid);
    let chosen_sid = issuer.issue_pair(&json!({"sub": "alice", "sid": "chosen"}));
    assert_eq!(chosen_sid.map_err(|e| e.kind()).map(drop), invalid);
}

#[tokio::test]
async fn entries_last_as_long_as_their_tokens_and_the_list_is_bounded() {
    let revocations = Revocations::builder().capacity(2).build();
    // A token that expired long ago (beyond any leeway) needs no entry.
    revocations.revoke_token("long-gone", at(now() - 3600)).await.unwrap();
    assert!(revocations.is_empty());
    revocations.revoke_token("a", at(now() + 60)).await.unwrap();
    revocations.revoke_token("b", at(now() + 60)).await.unwrap();
    revocations.revoke_token("a", at(now() + 120)).await.unwrap(); // extends, no new entry
    let full = revocations.revoke_token("c", at(now() + 60)).await.unwrap_err();
    assert_eq!(full.kind(), RevocationErrorKind::Full);
    assert_eq!(revocations.len(), 2);
}

#[test]
fn a_leeway_longer_than_the_entries_last_is_refused_with_revocations() {
    let error = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .leeway(Duration::from_secs(3600))
        .revocations(Revocations::in_memory())
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
    assert!(error.message().contains("leeway"), "{error}");
}

#[tokio::test]
async fn a_reused_refresh_token_ends_its_family_even_when_the_list_is_full() {
    let revocations = Revocations::builder().capacity(1).build();
    let issuer = issuer();
    let first = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    let grant = issuer.redeem(&first.refresh_token, &revocations).await.unwrap();
    let next = issuer.continue_session(&grant, &json!({})).unwrap();
    revocations.revoke_token("filler", at(now() + 3600)).await.unwrap();
    // The replayed token: reuse, although the family's entry does not fit.
    let reused = issuer.redeem(&first.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(reused.kind(), RefreshErrorKind::Reused);
    // Whoever holds the newer refresh token cannot go on either.
    let error = issuer.redeem(&next.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Reused);
}

#[tokio::test]
async fn no_token_outlives_what_a_subject_revocation_covers() {
    // Entries of "log out everywhere" last one hour past their instant: a token living
    // longer would be accepted again after its entry went, so it is refused from the start.
    let hour = Duration::from_secs(3600);
    let revocations = Revocations::builder().max_token_lifetime(hour).build();
    let layer = JwtAuthLayer::new(config(&revocations));
    let base = serve(me_and_logout(layer, issuer(), revocations.clone())).await;
    let client = reqwest::Client::new();
    let me = |token: String| {
        let request = client.get(format!("{base}/me")).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let issued = now();
    let within = issuer().issue(&json!({"sub": "alice", "iat": issued, "exp": issued + 3600})).unwrap();
    assert_eq!(me(within).await.status(), StatusCode::OK);
    let beyond = issuer().issue(&json!({"sub": "alice", "iat": issued, "exp": issued + 3601})).unwrap();
    let response = me(beyond).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(ErrorKind::LifetimeTooLong.description()), "{challenge}");

    // A max_lifetime the entries do not cover is refused at build; a shorter one is kept.
    let error = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .max_lifetime(hour * 2)
        .revocations(revocations.clone())
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::InvalidSetting);
    assert!(error.message().contains("max_token_lifetime"), "{error}");
    let shorter = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .max_lifetime(Duration::from_secs(600))
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let token = issuer().issue(&json!({"sub": "alice", "iat": issued, "exp": issued + 900})).unwrap();
    assert_eq!(shorter.verify(&token).unwrap_err().kind(), ErrorKind::LifetimeTooLong);

    // The issuer's refresh tokens (7 days by default) outlive these entries: not redeemed.
    let pair = issuer().issue_pair(&json!({"sub": "alice"})).unwrap();
    let error = issuer().redeem(&pair.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Invalid);
    let covering = Revocations::builder().max_token_lifetime(issuer().refresh_lifetime()).build();
    assert!(issuer().redeem(&pair.refresh_token, &covering).await.is_ok());
}

#[tokio::test]
async fn a_token_whose_ids_cannot_be_read_counts_as_revoked_wherever_it_was_verified() {
    let revocations = Revocations::in_memory();
    // Verified by a configuration without revocations, then asked of the list directly.
    let plain =
        JwtAuthConfig::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let t = now() - 1;
    let sign = |extra: serde_json::Value| {
        let mut claims = json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": t, "exp": t + 600});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap();
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    let readable = plain.verify_as::<serde_json::Value>(&sign(json!({"sid": "s-1"}))).unwrap();
    assert!(!revocations.is_revoked(readable.token()));
    for extra in [json!({"sid": ["s-1"]}), json!({"jti": 7}), json!({"sub": {"id": "alice"}})] {
        let token = sign(extra.clone());
        let claims = plain.verify_as::<serde_json::Value>(&token).unwrap();
        assert!(revocations.is_revoked(claims.token()), "{extra}");
        let error = revocations.revoke(claims.token()).await.unwrap_err();
        assert_eq!(error.kind(), RevocationErrorKind::MissingId, "{extra}");
        let error = issuer().logout(claims.token(), &revocations).await.unwrap_err();
        assert_eq!(error.kind(), RevocationErrorKind::MissingId, "{extra}");
        // A configuration with revocations refuses such a token outright.
        assert_eq!(
            config(&revocations).verify(&token).unwrap_err().kind(),
            ErrorKind::InvalidClaims,
            "{extra}"
        );
    }
    revocations.revoke_subject("alice", SystemTime::now() + Duration::from_secs(60)).await.unwrap();
    assert!(revocations.is_revoked(readable.token()));
}

#[tokio::test]
async fn a_token_without_jti_is_revoked_by_subject_only() {
    let revocations = Revocations::in_memory();
    let config = config(&revocations);
    let t = now() - 1;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": t, "exp": t + 600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap();
    let claims = config.verify(&token).unwrap();
    assert_eq!(revocations.revoke(claims.token()).await.unwrap_err().kind(), RevocationErrorKind::MissingId);
    revocations.revoke_subject("alice", SystemTime::now()).await.unwrap();
    assert_eq!(config.verify(&token).unwrap_err().kind(), ErrorKind::Revoked);
}

#[tokio::test]
async fn a_session_that_rotates_often_takes_one_entry_and_never_crowds_out_revocations() {
    let revocations = Revocations::builder().capacity(4).build();
    let issuer = issuer();
    let mut pair = issuer.issue_pair(&json!({"sub": "alice"})).unwrap();
    for _ in 0..50 {
        let grant = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap();
        pair = issuer.continue_session(&grant, &json!({})).unwrap();
    }
    // Fifty rotations later the revocation list is still empty, with all its room.
    assert!(revocations.is_empty());
    for jti in ["a", "b", "c"] {
        revocations.revoke_token(jti, at(now() + 60)).await.unwrap();
    }
    // Sessions have a budget of their own: three more fit, the next is refused, and the
    // revocations are untouched by it.
    for user in ["bob", "carol", "dave"] {
        let other = issuer.issue_pair(&json!({"sub": user})).unwrap();
        issuer.redeem(&other.refresh_token, &revocations).await.unwrap();
    }
    let one_too_many = issuer.issue_pair(&json!({"sub": "eve"})).unwrap();
    let error = issuer.redeem(&one_too_many.refresh_token, &revocations).await.unwrap_err();
    assert_eq!(error.kind(), RefreshErrorKind::Store(RevocationErrorKind::Full));
    assert_eq!(revocations.len(), 3);
    // The session that rotated fifty times still detects reuse of any older generation (and
    // its revocation takes the list's last free entry).
    let grant = issuer.redeem(&pair.refresh_token, &revocations).await.unwrap();
    let next = issuer.continue_session(&grant, &json!({})).unwrap();
    assert_eq!(
        issuer.redeem(&pair.refresh_token, &revocations).await.unwrap_err().kind(),
        RefreshErrorKind::Reused
    );
    assert_eq!(
        issuer.redeem(&next.refresh_token, &revocations).await.unwrap_err().kind(),
        RefreshErrorKind::Revoked
    );
}

#[test]
fn a_refresh_token_has_an_audience_of_its_own() {
    let pair = issuer().issue_pair(&json!({"sub": "alice"})).unwrap();
    // A resource server that ignores `typ` but checks the audience refuses it too.
    let lenient = JwtAuthConfig::builder()
        .hmac_secret(SECRET)
        .audience(AUDIENCE)
        .required_type("refresh+jwt")
        .build()
        .unwrap();
    assert_eq!(lenient.verify(&pair.refresh_token).unwrap_err().kind(), ErrorKind::InvalidAudience);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(&pair.refresh_token, &key, &validation).is_err());
    assert!(jsonwebtoken::decode::<serde_json::Value>(&pair.access_token, &key, &validation).is_ok());
}

#[tokio::test]
async fn the_issuer_fills_null_registered_claims_refuses_mistyped_ones_and_never_panics() {
    let revocations = Revocations::in_memory();
    let config = config(&revocations);
    // `Option` fields left `None` serialize as null: they get their defaults.
    #[derive(serde::Serialize)]
    struct Mine {
        sub: &'static str,
        jti: Option<String>,
        exp: Option<i64>,
        iat: Option<i64>,
    }
    let token = issuer().issue(&Mine { sub: "alice", jti: None, exp: None, iat: None }).unwrap();
    let claims = config.verify(&token).unwrap();
    assert!(claims.jti.as_deref().is_some_and(|jti| !jti.is_empty()));
    revocations.revoke(claims.token()).await.unwrap();
    assert_eq!(config.verify(&token).unwrap_err().kind(), ErrorKind::Revoked);
    // What no verifier would accept is refused at issue.
    for claims in [
        json!({"sub": "alice", "exp": 4_000_000_000.5}),
        json!({"sub": "alice", "iat": "now"}),
        json!({"sub": "alice", "jti": 7}),
        json!({"sub": {"id": "alice"}}),
        json!({"sub": "alice", "aud": [AUDIENCE, 5]}),
        json!({"sub": "alice", "iss": ["a"]}),
    ] {
        let refused = issuer().issue(&claims).map_err(|error| error.kind()).map(drop);
        assert_eq!(refused, Err(IssueErrorKind::InvalidClaims), "{claims}");
    }
    // Lifetimes past what the clock holds: sessions and logouts still work.
    let forever = TokenIssuer::builder()
        .hmac_secret(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .lifetime(Duration::MAX)
        .refresh_lifetime(Duration::MAX)
        .build()
        .unwrap();
    let pair = forever.issue_pair(&json!({"sub": "bob"})).unwrap();
    // (A configuration with these revocations refuses such a lifetime; one without reads it.)
    assert_eq!(config.verify(&pair.access_token).unwrap_err().kind(), ErrorKind::LifetimeTooLong);
    let unrevoked =
        JwtAuthConfig::builder().hmac_secret(SECRET).issuer(ISSUER).audience(AUDIENCE).build().unwrap();
    let claims = unrevoked.verify(&pair.access_token).unwrap();
    forever.logout(claims.token(), &revocations).await.unwrap();
}

#[tokio::test]
async fn a_session_sets_its_own_dates_and_its_refresh_tokens_always_name_an_audience() {
    // A later exp (or a future iat) of the caller's could outlive or escape the session's
    // revocation: refused, for new and continued sessions alike.
    for claims in [
        json!({"sub": "alice", "exp": now() + 30 * 24 * 3600}),
        json!({"sub": "alice", "iat": now() + 59}),
        json!({"sub": "alice", "nbf": now()}),
        json!({"sub": "alice", "jti": "mine"}),
    ] {
        let refused = issuer().issue_pair(&claims).map_err(|error| error.kind()).map(drop);
        assert_eq!(refused, Err(IssueErrorKind::InvalidClaims), "{claims}");
    }
    let revocations = Revocations::in_memory();
    let pair = issuer().issue_pair(&json!({"sub": "alice", "exp": null})).unwrap();
    let grant = issuer().redeem(&pair.refresh_token, &revocations).await.unwrap();
    let later = issuer().continue_session(&grant, &json!({"exp": now() + 30 * 24 * 3600}));
    assert_eq!(later.map_err(|error| error.kind()).map(drop), Err(IssueErrorKind::InvalidClaims));
    assert!(issuer().continue_session(&grant, &json!({"role": "admin"})).is_ok());

    // An issuer without audiences still gives its refresh tokens one, so a verifier that
    // checks no audience of its own (jsonwebtoken's defaults) refuses them.
    let bare = TokenIssuer::builder().hmac_secret(SECRET).build().unwrap();
    let pair = bare.issue_pair(&json!({"sub": "alice"})).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap();
    assert!(jsonwebtoken::decode::<serde_json::Value>(&pair.access_token, &key, &validation).is_ok());
    let refused =
        jsonwebtoken::decode::<serde_json::Value>(&pair.refresh_token, &key, &validation).unwrap_err();
    assert_eq!(refused.kind(), &jsonwebtoken::errors::ErrorKind::InvalidAudience);
    // And the issuer itself still redeems them.
    assert!(bare.redeem(&pair.refresh_token, &revocations).await.is_ok());
}
