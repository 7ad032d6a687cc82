//! What the examples share: their settings from the environment, and demo tokens.
//!
//! - `PORT`: the port on 127.0.0.1 (each example has its default).
//! - `JWT_SECRET`: the HS256 secret, at least 32 bytes. Unset, a random one is made at
//!   start, so tokens do not survive a restart.
//! - `JWT_ISSUER`: the `iss` of issued tokens and the one required (default `quickstart`).
//! - `JWT_AUDIENCE`: the `aud` of issued tokens and the one required (default
//!   `quickstart-api`).

#![allow(dead_code)] // each example uses what it needs

use std::env;
use std::time::Duration;

use tower_jwt_auth::issue::TokenIssuerBuilder;
use tower_jwt_auth::{JwtAuthConfig, JwtAuthConfigBuilder, TokenIssuer};

const DEFAULT_ISSUER: &str = "quickstart";
const DEFAULT_AUDIENCE: &str = "quickstart-api";
/// The shortest HS256 secret (RFC 7518 section 3.2).
const MIN_SECRET_BYTES: usize = 32;
/// How long the printed demo tokens live.
const DEMO_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// What the environment configures.
pub struct Settings {
    pub port: u16,
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
}

impl Settings {
    /// Reads `PORT` (else `default_port`), `JWT_SECRET`, `JWT_ISSUER` and `JWT_AUDIENCE`.
    pub fn from_env(default_port: u16) -> Result<Self, String> {
        Ok(Self {
            port: port(default_port)?,
            secret: signing_secret()?,
            issuer: env_or("JWT_ISSUER", DEFAULT_ISSUER)?,
            audience: env_or("JWT_AUDIENCE", DEFAULT_AUDIENCE)?,
        })
    }

    /// A configuration requiring this secret's signature, this issuer and this audience: any
    /// HS256 token so made is accepted, whoever minted it. Add the rest, then `build`.
    pub fn auth_config(&self) -> JwtAuthConfigBuilder {
        JwtAuthConfig::builder().hmac_secret(&self.secret).issuer(&self.issuer).audience(&self.audience)
    }

    /// An issuer of tokens with this secret, issuer and audience, and `builder`'s other
    /// settings.
    pub fn token_issuer(&self, builder: TokenIssuerBuilder) -> Result<TokenIssuer, String> {
        builder
            .hmac_secret(self.secret.clone())
            .issuer(&self.issuer)
            .audience(&self.audience)
            .build()
            .map_err(|error| format!("cannot build the token issuer: {error}"))
    }

    /// Tokens for alice (role `admin`) and bob (role `user`), valid for one hour.
    pub fn demo_tokens(&self) -> Result<(String, String), String> {
        let issuer = self.token_issuer(TokenIssuer::builder().lifetime(DEMO_TOKEN_LIFETIME))?;
        let token = |sub: &str, role: &str| {
            issuer
                .issue(&serde_json::json!({"sub": sub, "role": role}))
                .map_err(|error| format!("cannot issue a demo token: {error}"))
        };
        Ok((token("alice", "admin")?, token("bob", "user")?))
    }
}

/// `PORT`, else `default`.
pub fn port(default: u16) -> Result<u16, String> {
    match env::var("PORT") {
        Err(env::VarError::NotPresent) => Ok(default),
        Ok(text) => text.parse().map_err(|_| format!("PORT must be a number from 0 to 65535, not {text:?}")),
        Err(env::VarError::NotUnicode(_)) => Err("PORT is not valid UTF-8".to_owned()),
    }
}

fn env_or(name: &str, default: &str) -> Result<String, String> {
    match env::var(name) {
        Ok(value) => Ok(value),
        Err(env::VarError::NotPresent) => Ok(default.to_owned()),
        Err(env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

fn signing_secret() -> Result<Vec<u8>, String> {
    match env::var("JWT_SECRET") {
        Ok(secret) if secret.len() >= MIN_SECRET_BYTES => Ok(secret.into_bytes()),
        Ok(secret) => Err(format!(
            "JWT_SECRET is {} bytes long; an HS256 secret must be at least {MIN_SECRET_BYTES} bytes \
             (try: export JWT_SECRET=$(openssl rand -hex 32))",
            secret.len()
        )),
        Err(env::VarError::NotPresent) => {
            let mut secret = vec![0u8; MIN_SECRET_BYTES];
            getrandom::fill(&mut secret).map_err(|error| format!("no randomness for a secret: {error}"))?;
            println!("JWT_SECRET is not set: using a random {MIN_SECRET_BYTES}-byte secret.");
            println!("Tokens will not survive a restart; set JWT_SECRET to keep them.");
            Ok(secret)
        }
        Err(env::VarError::NotUnicode(_)) => Err("JWT_SECRET is not valid UTF-8".to_owned()),
    }
}
