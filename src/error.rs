//! Why a request was rejected, and why a configuration was refused.
//!
//! Every rejection is an [`AuthError`]: a [`ErrorKind`] that code can match on, a fixed
//! sentence for people, and the class of answer it gets (400, 401, 403 or 503). Nothing in
//! an `AuthError` carries token contents, a kid, a key or a library's error text, so it is
//! safe to log at any level and to show to clients.
//!
//! ```
//! use tower_jwt_auth::{ErrorKind, JwtAuthConfig, error::RejectionClass};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .build()
//!     .unwrap();
//! let error = config.verify("not-a-jwt").unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::Malformed);
//! assert_eq!(error.class(), RejectionClass::InvalidToken);
//! ```

use std::fmt;
use std::sync::Arc;

/// What went wrong with a request, for code to match on.
///
/// The variants are grouped by the answer they get: see [`ErrorKind::class`].
///
/// ```
/// use std::time::Duration;
/// use tower_jwt_auth::{ErrorKind, JwtAuthConfig, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config =
///     JwtAuthConfig::builder().hmac_secret(&secret).max_lifetime(Duration::from_secs(3600)).build()?;
/// let issuer = TokenIssuer::builder().hmac_secret(secret).lifetime(Duration::from_secs(86_400)).build()?;
///
/// let token = issuer.issue(&serde_json::json!({"sub": "alice"}))?;
/// let kind = config.verify(&token).unwrap_err().kind();
/// assert_eq!(kind, ErrorKind::LifetimeTooLong);
/// assert_eq!(kind.name(), "lifetime_too_long"); // for logs and metric labels
/// assert_eq!(kind.description(), "The access token lifetime is too long"); // for people
/// assert_eq!(kind.class().status(), 401);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No credential was found in any configured source.
    MissingCredential,
    /// The credential's syntax is not a bearer token (RFC 6750 section 2.1).
    MalformedRequest,
    /// Two different credentials were sent (say a header and a cookie).
    ConflictingCredentials,
    /// A credential header, cookie or query parameter was repeated.
    RepeatedCredential,
    /// The token is larger than the configured size cap.
    TokenTooLarge,
    /// The token is not a compact JWS: wrong segment count, bad base64url, bad JSON.
    Malformed,
    /// The token is a JWE (five segments); only signed tokens are accepted.
    EncryptedToken,
    /// The header names `none`, an unknown algorithm, or one that no key is configured for.
    UnsupportedAlgorithm,
    /// The header uses an extension this crate refuses: `crit`, `b64: false`, `enc`, `zip`.
    UnsupportedHeader,
    /// No configured key matches the token's `kid` (or lack of one).
    UnknownKey,
    /// The token has no `kid` and several configured keys could verify it.
    AmbiguousKey,
    /// The signature does not verify.
    InvalidSignature,
    /// The claims are not a JSON object of the expected shape, or repeat a member name.
    InvalidClaims,
    /// A required claim (`exp`, or `iss`/`aud` once configured: an audience, a trusted
    /// issuer's audiences or a protected resource make `aud` required) is missing.
    MissingClaim,
    /// `exp` has passed (a token whose `exp` equals now is expired).
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// The token lives longer than the configured maximum lifetime.
    LifetimeTooLong,
    /// `iss` is not one of the configured issuers.
    InvalidIssuer,
    /// `aud` names none of the configured audiences.
    InvalidAudience,
    /// The header `typ` is not the required one.
    InvalidType,
    /// The token was valid but the caller lacks a required role, scope or claim.
    InsufficientScope,
    /// No keys are available to verify tokens right now (a remote key set is down).
    KeysUnavailable,
    /// The token was revoked (see [`Revocations`](crate::revoke::Revocations)).
    Revoked,
    /// A state-changing request authenticated by a cookie came from another site (see
    /// [`CsrfPolicy`](crate::cookie::CsrfPolicy)).
    CrossSiteRequest,
    /// The DPoP proof is missing, repeated, malformed, or fails one of the checks of RFC 9449
    /// section 4.3 (see [`dpop`](crate::dpop)).
    InvalidProof,
    /// The DPoP proof's `jti` was seen before: a replayed proof.
    ReplayedProof,
    /// The DPoP proof is signed by another key than the one the token is bound to (its
    /// `cnf.jkt`).
    ProofKeyMismatch,
    /// The server asks for a DPoP nonce: the proof has none, or an old one; retry with the
    /// `DPoP-Nonce` of the answer (RFC 9449 section 8).
    UseDpopNonce,
    /// The layer received a DPoP-bound token (one with `cnf.jkt`) without the DPoP scheme
    /// and its proof, with DPoP on or off (see
    /// [`bound_tokens_as_bearer`](crate::JwtAuthConfigBuilder::bound_tokens_as_bearer)).
    BoundTokenWithoutProof,
    /// The DPoP scheme was used with a token that is not DPoP-bound.
    UnboundTokenWithProof,
    /// Spent DPoP proofs cannot be remembered right now (the replay cache is full, or its
    /// shared store is down): the request is refused rather than risk a replay.
    ReplayCheckUnavailable,
}

/// The class of answer an [`ErrorKind`] gets: one row of the rejection table.
///
/// ```
/// use tower_jwt_auth::{ErrorKind, error::RejectionClass};
///
/// assert_eq!(ErrorKind::Expired.class(), RejectionClass::InvalidToken);
/// assert_eq!(ErrorKind::Revoked.class(), RejectionClass::InvalidToken);
///
/// // One row of the table: HTTP status, RFC 6750 error code, gRPC status.
/// let row = |class: RejectionClass| (class.status().as_u16(), class.error_code(), class.grpc_status());
/// assert_eq!(row(RejectionClass::InvalidToken), (401, Some("invalid_token"), 16));
/// assert_eq!(row(RejectionClass::InsufficientScope), (403, Some("insufficient_scope"), 7));
/// // Not the caller's fault: no error code, and gRPC UNAVAILABLE.
/// assert_eq!(row(ErrorKind::KeysUnavailable.class()), (503, None, 14));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionClass {
    /// 401 with `WWW-Authenticate: Bearer realm="..."` and no error code.
    MissingCredential,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope`.
    InsufficientScope,
    /// 503 with `Retry-After`.
    Unavailable,
    /// 403 without a challenge: the credential may be fine, but the request is refused (a
    /// cross-site request authenticated by a cookie).
    Forbidden,
    /// 401 `invalid_dpop_proof` (RFC 9449 section 7.1), on the DPoP challenge.
    InvalidDpopProof,
    /// 401 `use_dpop_nonce` (RFC 9449 section 8), with a `DPoP-Nonce` header.
    UseDpopNonce,
}

impl RejectionClass {
    /// The HTTP status for this class.
    pub fn status(self) -> http::StatusCode {
        match self {
            Self::MissingCredential | Self::InvalidToken | Self::InvalidDpopProof | Self::UseDpopNonce => {
                http::StatusCode::UNAUTHORIZED
            }
            Self::InvalidRequest => http::StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::Forbidden => http::StatusCode::FORBIDDEN,
            Self::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 error code, if this class has one.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            Self::MissingCredential | Self::Unavailable | Self::Forbidden => None,
            Self::InvalidRequest => Some("invalid_request"),
            Self::InvalidToken => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::InvalidDpopProof => Some("invalid_dpop_proof"),
            Self::UseDpopNonce => Some("use_dpop_nonce"),
        }
    }

    /// The gRPC status code for this class.
    pub fn grpc_status(self) -> u8 {
        match self {
            Self::MissingCredential
            | Self::InvalidRequest
            | Self::InvalidToken
            | Self::InvalidDpopProof
            | Self::UseDpopNonce => 16,
            Self::InsufficientScope | Self::Forbidden => 7,
            Self::Unavailable => 14,
        }
    }
}

impl ErrorKind {
    /// The class of answer this kind gets.
    pub fn class(self) -> RejectionClass {
        match self {
            Self::MissingCredential => RejectionClass::MissingCredential,
            Self::MalformedRequest | Self::ConflictingCredentials | Self::RepeatedCredential => {
                RejectionClass::InvalidRequest
            }
            Self::InsufficientScope => RejectionClass::InsufficientScope,
            Self::KeysUnavailable | Self::ReplayCheckUnavailable => RejectionClass::Unavailable,
            Self::InvalidProof | Self::ReplayedProof | Self::ProofKeyMismatch => {
                RejectionClass::InvalidDpopProof
            }
            Self::UseDpopNonce => RejectionClass::UseDpopNonce,
            Self::CrossSiteRequest => RejectionClass::Forbidden,
            _ => RejectionClass::InvalidToken,
        }
    }

    /// A stable `snake_case` name, for logs and metric labels (`"expired"`,
    /// `"unknown_key"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::MissingCredential => "missing_credential",
            Self::MalformedRequest => "malformed_request",
            Self::ConflictingCredentials => "conflicting_credentials",
            Self::RepeatedCredential => "repeated_credential",
            Self::TokenTooLarge => "token_too_large",
            Self::Malformed => "malformed",
            Self::EncryptedToken => "encrypted_token",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnsupportedHeader => "unsupported_header",
            Self::UnknownKey => "unknown_key",
            Self::AmbiguousKey => "ambiguous_key",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidClaims => "invalid_claims",
            Self::MissingClaim => "missing_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::InvalidType => "invalid_type",
            Self::InsufficientScope => "insufficient_scope",
            Self::KeysUnavailable => "keys_unavailable",
            Self::Revoked => "revoked",
            Self::CrossSiteRequest => "cross_site_request",
            Self::InvalidProof => "invalid_proof",
            Self::ReplayedProof => "replayed_proof",
            Self::ProofKeyMismatch => "proof_key_mismatch",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::BoundTokenWithoutProof => "bound_token_without_proof",
            Self::UnboundTokenWithProof => "unbound_token_with_proof",
            Self::ReplayCheckUnavailable => "replay_check_unavailable",
        }
    }

    /// A fixed sentence for people: never token contents, a kid, a key or a library message.
    pub fn description(self) -> &'static str {
        match self {
            Self::MissingCredential => "Authentication is required",
            Self::MalformedRequest => "The credential is not a bearer token",
            Self::ConflictingCredentials => "More than one credential was sent",
            Self::RepeatedCredential => "The credential was sent more than once",
            Self::TokenTooLarge => "The access token is too large",
            Self::Malformed => "The access token is malformed",
            Self::EncryptedToken => "Encrypted tokens are not accepted",
            Self::UnsupportedAlgorithm => "The access token algorithm is not accepted",
            Self::UnsupportedHeader => "The access token header is not accepted",
            Self::UnknownKey => "The access token was signed by an unknown key",
            Self::AmbiguousKey => "The access token does not say which key signed it",
            Self::InvalidSignature => "The access token signature is invalid",
            Self::InvalidClaims => "The access token claims are invalid",
            Self::MissingClaim => "The access token lacks a required claim",
            Self::Expired => "The access token expired",
            Self::NotYetValid => "The access token is not valid yet",
            Self::IssuedInFuture => "The access token was issued in the future",
            Self::LifetimeTooLong => "The access token lifetime is too long",
            Self::InvalidIssuer => "The access token issuer is not accepted",
            Self::InvalidAudience => "The access token audience is not accepted",
            Self::InvalidType => "The access token type is not accepted",
            Self::InsufficientScope => "The access token lacks the required permission",
            Self::KeysUnavailable => "The keys to verify the access token are unavailable",
            Self::Revoked => "The access token has been revoked",
            Self::CrossSiteRequest => "Cross-site requests authenticated by a cookie are refused",
            Self::InvalidProof => "The DPoP proof is missing or invalid",
            Self::ReplayedProof => "The DPoP proof was already used",
            Self::ProofKeyMismatch => "The DPoP proof key is not the key the access token is bound to",
            Self::UseDpopNonce => "A DPoP nonce from the server is required",
            Self::BoundTokenWithoutProof => {
                "The access token is DPoP-bound and cannot be used as a bearer token"
            }
            Self::UnboundTokenWithProof => "The access token is not DPoP-bound",
            Self::ReplayCheckUnavailable => "DPoP proofs cannot be checked for replay right now",
        }
    }
}

/// Why a request was rejected.
///
/// Holds a [`ErrorKind`] and, for guard rejections, the scope that was required. Its
/// `Display` is the kind's fixed description.
///
/// ```
/// use tower_jwt_auth::{AuthError, ErrorKind, JwtAuthConfig, response::bearer_challenge};
///
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .build()
///     .unwrap();
/// let error: AuthError = config.verify("not-a-jwt").unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Malformed);
/// assert_eq!(error.to_string(), "The access token is malformed"); // never the token itself
///
/// // A guard's rejection names what was required, in its challenge too.
/// let error = AuthError::insufficient_scope("orders:write");
/// assert_eq!(error.required_scope(), Some("orders:write"));
/// let challenge = bearer_challenge(&error, "api").unwrap();
/// assert!(challenge.to_str().unwrap().ends_with(r#"scope="orders:write""#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    kind: ErrorKind,
    required_scope: Option<Arc<str>>,
}

impl AuthError {
    /// An error of this kind.
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind, required_scope: None }
    }

    /// A 403 `insufficient_scope` error naming what was required (RFC 6750 section 3.1).
    pub fn insufficient_scope(required: impl Into<Arc<str>>) -> Self {
        Self { kind: ErrorKind::InsufficientScope, required_scope: Some(required.into()) }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The class of answer (status code, RFC 6750 error code, gRPC status).
    pub fn class(&self) -> RejectionClass {
        self.kind.class()
    }

    /// The scope that was required, for `insufficient_scope` rejections.
    pub fn required_scope(&self) -> Option<&str> {
        self.required_scope.as_deref()
    }
}

impl From<ErrorKind> for AuthError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())
    }
}

impl std::error::Error for AuthError {}

/// Why a configuration was refused by `build()` (or a [`TokenCookie`](crate::cookie::TokenCookie)
/// setting or value): a [`kind`](Self::kind) to match on, and a sentence that says what to
/// change.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, error::ConfigErrorKind};
///
/// let error = JwtAuthConfig::builder().hmac_secret(b"too short").build().unwrap_err();
/// assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
/// assert!(error.message().contains("at least 32"));
/// ```
#[derive(Debug, Clone)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// What is wrong with a configuration.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, cookie::TokenCookie, error::ConfigErrorKind};
///
/// let kind = |builder: tower_jwt_auth::JwtAuthConfigBuilder| builder.build().unwrap_err().kind();
/// let keyed = || JwtAuthConfig::builder().hmac_secret(b"an example secret of at least 32 bytes!");
///
/// assert_eq!(kind(JwtAuthConfig::builder()), ConfigErrorKind::MissingKey);
/// assert_eq!(kind(JwtAuthConfig::builder().hmac_secret(b"short")), ConfigErrorKind::InvalidKey);
/// assert_eq!(kind(keyed().audience("")), ConfigErrorKind::InvalidValue);
/// assert_eq!(kind(keyed().token_sources([])), ConfigErrorKind::InvalidSetting);
/// // Cookie settings are checked where they are made.
/// assert_eq!(TokenCookie::new("access token").unwrap_err().kind(), ConfigErrorKind::InvalidValue);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// No key is configured to verify (or, for a token issuer, to sign) with.
    MissingKey,
    /// A key is refused: unreadable, too weak, of another algorithm's family, unfit to verify
    /// (a JWK's `use`, `key_ops`, `alg` or private members), or named by a `kid` another key
    /// has.
    InvalidKey,
    /// A URL is refused: not a URL, or plain http where https is required.
    InvalidUrl,
    /// A name or text is refused: a header, cookie or query parameter name, a realm, an
    /// origin, a cookie path or domain, an empty issuer or audience, a claim path, a token
    /// that cannot be a cookie value.
    InvalidValue,
    /// Settings out of range or at odds with each other: a zero size or timeout, lifetime
    /// bounds in the wrong order, a leeway or token lifetime longer than the revocations
    /// cover, an issuer trusted twice, no token source, HMAC algorithms for a remote set, a
    /// cookie attribute browsers refuse.
    InvalidSetting,
}

impl ConfigError {
    fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), source: None }
    }

    pub(crate) fn missing_key(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorKind::MissingKey, message)
    }

    pub(crate) fn key(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorKind::InvalidKey, message)
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn url(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorKind::InvalidUrl, message)
    }

    pub(crate) fn value(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorKind::InvalidValue, message)
    }

    pub(crate) fn setting(message: impl Into<String>) -> Self {
        Self::new(ConfigErrorKind::InvalidSetting, message)
    }

    /// The same error, caused by `source`.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What is wrong.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The explanation, naming what to fix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_the_rejection_table() {
        assert_eq!(ErrorKind::MissingCredential.class().status(), 401);
        assert_eq!(ErrorKind::MissingCredential.class().error_code(), None);
        assert_eq!(ErrorKind::ConflictingCredentials.class().status(), 400);
        assert_eq!(ErrorKind::RepeatedCredential.class().error_code(), Some("invalid_request"));
        assert_eq!(ErrorKind::Expired.class().status(), 401);
        assert_eq!(ErrorKind::Expired.class().error_code(), Some("invalid_token"));
        assert_eq!(ErrorKind::InsufficientScope.class().status(), 403);
        assert_eq!(ErrorKind::InsufficientScope.class().grpc_status(), 7);
        assert_eq!(ErrorKind::KeysUnavailable.class().status(), 503);
        assert_eq!(ErrorKind::KeysUnavailable.class().grpc_status(), 14);
        assert_eq!(ErrorKind::UnknownKey.class().grpc_status(), 16);
        assert_eq!(ErrorKind::CrossSiteRequest.class(), RejectionClass::Forbidden);
        assert_eq!(ErrorKind::CrossSiteRequest.class().status(), 403);
        assert_eq!(ErrorKind::CrossSiteRequest.class().error_code(), None);
        assert_eq!(ErrorKind::CrossSiteRequest.class().grpc_status(), 7);
    }

    /// Every message the crate writes (its string literals outside tests, `ConfigError`
    /// messages among them) names only methods that exist: each `.name(`, `::name(` or
    /// `::name::<` in a literal with a space in it must be a `pub fn` of the crate. Read from
    /// the source, so a renamed or removed method fails here until its messages follow.
    #[test]
    fn messages_name_only_methods_that_exist() {
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    files.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        assert!(files.len() > 30, "the crate's sources are found");
        let mut public = std::collections::BTreeSet::new();
        for file in &files {
            for line in file.lines() {
                let line = line.trim_start();
                for prefix in ["pub fn ", "pub async fn "] {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        public.insert(rest.split(['(', '<']).next().unwrap().to_owned());
                    }
                }
            }
        }
        let mut problems = Vec::new();
        let mut mentioned = 0;
        for file in &files {
            let code = file.split("#[cfg(test)]\nmod tests").next().unwrap();
            // The Redis link's Lua scripts are another language.
            for literal in string_literals(code).into_iter().filter(|text| text.contains(' ')) {
                if literal.contains("redis.call(") {
                    continue;
                }
                for name in method_mentions(&literal) {
                    mentioned += 1;
                    if !public.contains(&name) {
                        problems.push(format!("{name:?} in {literal:?}"));
                    }
                }
            }
        }
        assert!(mentioned >= 10, "the messages' method mentions are found ({mentioned})");
        assert!(problems.is_empty(), "messages name methods that do not exist: {problems:#?}");
    }

    /// The contents of the string literals in Rust source: plain (escapes kept as written)
    /// and raw; comments and char literals skipped.
    fn string_literals(code: &str) -> Vec<String> {
        let bytes = code.as_bytes();
        let mut literals = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &code[i..];
            if rest.starts_with("//") {
                i += rest.find('\n').unwrap_or(rest.len());
            } else if (rest.starts_with("r\"") || rest.starts_with("r#"))
                && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
            {
                let hashes = rest[1..].bytes().take_while(|b| *b == b'#').count();
                if rest.as_bytes().get(1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let start = 2 + hashes;
                let end = format!("\"{}", "#".repeat(hashes));
                let length = rest[start..].find(&end).unwrap();
                literals.push(rest[start..start + length].to_owned());
                i += start + length + end.len();
            } else if let Some(after) = rest.strip_prefix('\'') {
                // A char literal ('"', '\'', '\u{..}') is skipped whole; a lifetime ('a) is not.
                let close = match after.strip_prefix('\\') {
                    Some(escaped) => escaped.get(1..).and_then(|tail| tail.find('\'')).map(|at| at + 2),
                    None => {
                        after.chars().next().map(char::len_utf8).filter(|at| after[*at..].starts_with('\''))
                    }
                };
                i += close.map_or(1, |at| at + 2);
            } else if rest.starts_with('"') {
                let mut j = 1;
                while rest.as_bytes()[j] != b'"' {
                    j += if rest.as_bytes()[j] == b'\\' { 2 } else { 1 };
                }
                literals.push(rest[1..j].to_owned());
                i += j + 1;
            } else {
                i += rest.chars().next().unwrap().len_utf8();
            }
        }
        literals
    }

    /// The names a text calls as methods: `.name(`, `::name(` and `::name::<`.
    fn method_mentions(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        for (at, _) in text.match_indices(['.', ':']) {
            let rest = text[at + 1..].trim_start_matches(':');
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let after = &rest[name.len()..];
            if !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && (after.starts_with('(') || after.starts_with("::<"))
            {
                names.push(name);
            }
        }
        names.sort();
        names.dedup();
        names
    }
}
