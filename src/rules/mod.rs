//! The rules a token must pass, built once from the configuration: the header rules (the
//! algorithm's name, `typ`, the extensions refused) and the claim checks (`exp`, `nbf`,
//! `iat`, the lifetime, `iss`, `aud`). Pure functions of a token's parts and the settings:
//! no key, no I/O.
//!
//! ```
//! use tower_jwt_auth::{ErrorKind, JwtAuthConfig};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .build()
//!     .unwrap();
//! // `{"alg":"none"}` is refused whatever its spelling.
//! let error = config.verify("eyJhbGciOiJub25lIn0.e30.").unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::UnsupportedAlgorithm);
//! ```

mod claims;
mod header;

pub(crate) use header::{HeaderFacts, HeaderMemo, REFRESH_TOKEN_TYPE};

use crate::grants::PathTree;

/// The checks, built once from the configuration.
pub(crate) struct Rules {
    /// Seconds allowed on `exp`, `nbf` and `iat`.
    pub(crate) leeway: i64,
    /// The accepted `iss` values (empty: any), unless a trusted issuer's route applies.
    pub(crate) issuers: Vec<String>,
    /// The accepted `aud` values (empty: any), unless a trusted issuer has its own.
    pub(crate) audiences: Vec<String>,
    /// The longest lifetime accepted, in seconds.
    pub(crate) max_lifetime: Option<i64>,
    /// The header `typ` required, if any.
    pub(crate) required_type: Option<String>,
    /// The largest token, in bytes, checked before any decoding.
    pub(crate) max_token_size: usize,
    /// Where roles and scopes are read from.
    pub(crate) grant_paths: PathTree,
    /// The headers of tokens that verified, already checked.
    pub(crate) header_memo: HeaderMemo,
}
