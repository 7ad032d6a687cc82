//! OAuth 2.0 client credentials (RFC 6749 section 4.4) for an [`AccessToken`], from a token
//! endpoint given or found by OpenID Connect discovery (feature `jwks`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Url};
use serde::Deserialize;

use super::{AccessToken, Current, Inner, Source, TokenError, TokenErrorKind};
use crate::error::ConfigError;
use crate::jwks::fetch::{self, FetchLimits, JwksErrorKind};

/// A fetch in flight, shared by every caller waiting for it; it ends whatever its outcome.
pub(crate) type Fetch = Shared<BoxFuture<'static, Result<(), TokenError>>>;

/// How long a token lives when the endpoint's answer has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY: usize = 64 * 1024;

/// How the client authenticates to the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`, the default).
    #[default]
    Basic,
    /// The id and secret in the form body (`client_secret_post`).
    Post,
}

/// Where the token endpoint is.
enum Endpoint {
    Given(Url),
    /// Read from the issuer's discovery document at the first fetch, then kept.
    Discovered {
        issuer: String,
        url: Url,
        found: Mutex<Option<Url>>,
    },
}

pub(crate) struct ClientCredentials {
    endpoint: Endpoint,
    client_id: String,
    secret: String,
    auth: ClientAuth,
    params: Vec<(String, String)>,
    http: Client,
    limits: FetchLimits,
}

/// Builds an [`AccessToken`] from OAuth 2.0 client credentials (feature `jwks`): made by
/// [`AccessToken::client_credentials`]; name the endpoint with
/// [`discover`](Self::discover) or [`token_endpoint`](Self::token_endpoint).
///
/// ```no_run
/// use tower_jwt_auth::client::{AccessToken, ClientAuth};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let token = AccessToken::client_credentials("billing-service", std::env::var("CLIENT_SECRET")?)
///     .discover("https://idp.example.com/realms/main")
///     .auth(ClientAuth::Basic)
///     .scope("orders:read")
///     .resource("https://orders.example.com") // RFC 8707; Auth0 takes .param("audience", ...)
///     .build()?;
/// let header = token.header().await?; // fetched once, then renewed ahead of expiry
/// # let _ = header;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct ClientCredentialsBuilder {
    endpoint: Option<Result<(Option<String>, Url), ConfigError>>,
    client_id: String,
    secret: String,
    auth: ClientAuth,
    params: Vec<(String, String)>,
    http: Option<Client>,
    timeout: Duration,
    allow_http: bool,
}

impl fmt::Debug for ClientCredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentialsBuilder")
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// Tokens from an OAuth 2.0 token endpoint with the client credentials grant (feature
    /// `jwks`): this service's own client id and secret.
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn client_credentials(
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint: None,
            client_id: client_id.into(),
            secret: secret.into(),
            auth: ClientAuth::default(),
            params: Vec::new(),
            http: None,
            timeout: DEFAULT_TIMEOUT,
            allow_http: false,
        }
    }
}

impl ClientCredentialsBuilder {
    /// Finds the token endpoint in `issuer`'s discovery document
    /// (`{issuer}/.well-known/openid-configuration`, whose `issuer` must match and whose
    /// `token_endpoint` must be on the issuer's origin) at the first fetch.
    pub fn discover(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.endpoint =
            Some(fetch::discovery_url(&issuer).map(|url| (Some(issuer), url)).map_err(ConfigError::url));
        self
    }

    /// The token endpoint's URL.
    pub fn token_endpoint(mut self, url: &str) -> Self {
        self.endpoint = Some(
            Url::parse(url)
                .map(|url| (None, url))
                .map_err(|_| ConfigError::url(format!("the token endpoint {url:?} is not a URL"))),
        );
        self
    }

    /// How the client authenticates (default [`ClientAuth::Basic`]).
    pub fn auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The scopes to ask for, separated by spaces.
    pub fn scope(self, scope: impl Into<String>) -> Self {
        self.param("scope", scope)
    }

    /// A resource the token is for (RFC 8707 `resource`; call again for several).
    pub fn resource(self, resource: impl Into<String>) -> Self {
        self.param("resource", resource)
    }

    /// Any other form parameter of the token request (Auth0's `audience`, say).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The HTTP client to use (a custom CA, a proxy); by default one that follows no
    /// redirect.
    pub fn client(mut self, client: Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The timeout of one fetch, discovery and token request together (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows plain http on any host (development and tests). Plain http on a loopback host
    /// (`localhost`, 127.0.0.0/8, `::1`) is allowed without it.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Checks the settings; no network access until the first token is asked for.
    pub fn build(self) -> Result<AccessToken, ConfigError> {
        let Some(endpoint) = self.endpoint else {
            return Err(ConfigError::setting(
                "client credentials need a token endpoint: call .discover(issuer) or .token_endpoint(url)",
            ));
        };
        let (issuer, url) = endpoint?;
        let allow_http = self.allow_http || fetch::on_loopback(&url);
        if !fetch::scheme_allowed(&url, allow_http) {
            return Err(ConfigError::url(
                "the token endpoint (or issuer) must use https, or plain http on a loopback host; \
                 for development and tests elsewhere, ClientCredentialsBuilder::allow_http(true)",
            ));
        }
        if self.client_id.is_empty() || self.timeout.is_zero() {
            return Err(ConfigError::setting("client credentials need a client id and a timeout above zero"));
        }
        let http = match self.http {
            Some(client) => client,
            None => {
                Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|error| {
                    ConfigError::setting("the HTTP client for the token endpoint could not be built")
                        .caused_by(error)
                })?
            }
        };
        let endpoint = match issuer {
            Some(issuer) => Endpoint::Discovered { issuer, url, found: Mutex::new(None) },
            None => Endpoint::Given(url),
        };
        let credentials = ClientCredentials {
            endpoint,
            client_id: self.client_id,
            secret: self.secret,
            auth: self.auth,
            params: self.params,
            http,
            limits: FetchLimits { timeout: self.timeout, max_body: MAX_BODY, allow_http },
        };
        Ok(AccessToken::with(Source::ClientCredentials(Box::new(credentials)), None))
    }
}

impl ClientCredentials {
    /// Starts a fetch on the crate's background thread (so it ends, by its timeout at the
    /// latest, whatever the caller's runtime does); its outcome goes into `inner`.
    pub(crate) fn start(&self, inner: Arc<Inner>) -> Fetch {
        let failed_inner = Arc::clone(&inner);
        let work = async move {
            let Source::ClientCredentials(credentials) = &inner.source else { return Ok(()) };
            let outcome = match tokio::time::timeout(credentials.limits.timeout, credentials.fetch()).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => Err(transport_failure()),
            };
            inner.finish(outcome)
        };
        match crate::background::runtime() {
            // A task that ended without a result (it panicked) is a failed fetch.
            Some(runtime) => runtime
                .spawn(work)
                .map(|ended| ended.unwrap_or_else(|_| Err(transport_failure())))
                .boxed()
                .shared(),
            // No thread and no runtime to run it on: a failed fetch (with its backoff), recorded
            // by the first caller that waits for it (the caller holds the state's lock now).
            None => async move { failed_inner.finish(Err(transport_failure())) }.boxed().shared(),
        }
    }

    async fn fetch(&self) -> Result<Current, TokenError> {
        let endpoint = self.endpoint().await?;
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            for (name, value) in &self.params {
                form.append_pair(name, value);
            }
            if self.auth == ClientAuth::Post {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", &self.secret);
            }
            form.finish()
        };
        let mut request = self
            .http
            .post(endpoint.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .timeout(self.limits.timeout);
        if self.auth == ClientAuth::Basic {
            // RFC 6749 section 2.3.1: each part form-encoded, then joined and base64.
            let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&self.client_id), encode(&self.secret));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            let mut value = http::HeaderValue::try_from(format!("Basic {encoded}"))
                .map_err(|_| TokenError::new(TokenErrorKind::Malformed))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let started = Instant::now();
        let response = request.body(body).send().await.map_err(|error| {
            tracing::debug!(%error, "token request failed");
            TokenError::new(TokenErrorKind::Transport)
        })?;
        let fetched = fetch::read(response, &endpoint, &self.limits).await.map_err(classify)?;
        parse_token_response(&fetched.body, started)
    }

    /// The token endpoint: given, or read once from the discovery document.
    async fn endpoint(&self) -> Result<Url, TokenError> {
        let (issuer, url, found) = match &self.endpoint {
            Endpoint::Given(url) => return Ok(url.clone()),
            Endpoint::Discovered { issuer, url, found } => (issuer, url, found),
        };
        if let Some(endpoint) = found.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(endpoint);
        }
        let document = fetch::get(&self.http, url, &self.limits).await.map_err(classify)?;
        #[derive(Deserialize)]
        struct Document {
            issuer: String,
            token_endpoint: String,
        }
        let malformed = || TokenError::new(TokenErrorKind::Malformed);
        let document: Document = serde_json::from_slice(&document.body).map_err(|_| malformed())?;
        let endpoint = Url::parse(&document.token_endpoint).map_err(|_| malformed())?;
        let same_origin = Url::parse(issuer).is_ok_and(|issuer| issuer.origin() == endpoint.origin());
        if document.issuer != *issuer
            || !same_origin
            || !fetch::scheme_allowed(&endpoint, self.limits.allow_http)
        {
            return Err(malformed());
        }
        *found.lock().unwrap_or_else(PoisonError::into_inner) = Some(endpoint.clone());
        Ok(endpoint)
    }
}

fn transport_failure() -> TokenError {
    TokenError::new(TokenErrorKind::Transport)
}

fn classify(kind: JwksErrorKind) -> TokenError {
    TokenError::new(match kind {
        JwksErrorKind::Transport | JwksErrorKind::Timeout => TokenErrorKind::Transport,
        JwksErrorKind::Status(status) => TokenErrorKind::Refused(status),
        _ => TokenErrorKind::Malformed,
    })
}

/// RFC 6749 section 5.1: `access_token`, `token_type` Bearer, and `expires_in` (seconds,
/// counted from when the request was sent).
fn parse_token_response(body: &[u8], sent: Instant) -> Result<Current, TokenError> {
    #[derive(Deserialize)]
    struct TokenResponse {
        access_token: String,
        token_type: String,
        expires_in: Option<u64>,
    }
    let malformed = || TokenError::new(TokenErrorKind::Malformed);
    let response: TokenResponse = serde_json::from_slice(body).map_err(|_| malformed())?;
    if !response.token_type.eq_ignore_ascii_case("bearer") || response.access_token.is_empty() {
        return Err(malformed());
    }
    let lifetime = response.expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs);
    if lifetime.is_zero() {
        return Err(malformed());
    }
    Current::new(&response.access_token, Some(lifetime), sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_response_needs_a_bearer_token_and_counts_its_lifetime_from_the_request() {
        let sent = Instant::now();
        let current =
            parse_token_response(br#"{"access_token":"abc","token_type":"Bearer","expires_in":100}"#, sent)
                .unwrap();
        assert_eq!(current.header, "Bearer abc");
        assert!(current.header.is_sensitive());
        assert_eq!(current.renew_at, sent + Duration::from_secs(75));
        assert_eq!(current.expires_at, Some(sent + Duration::from_secs(100)));
        for body in [
            &br#"{"access_token":"abc","token_type":"mac"}"#[..],
            br#"{"access_token":"","token_type":"bearer"}"#,
            br#"{"access_token":"a\nb","token_type":"bearer"}"#,
            br#"{"access_token":"abc","token_type":"bearer","expires_in":0}"#,
            br#"{"token_type":"bearer"}"#,
            b"not json",
        ] {
            let error = parse_token_response(body, sent).err().unwrap();
            assert_eq!(error.kind(), TokenErrorKind::Malformed, "{}", String::from_utf8_lossy(body));
        }
        let without_expiry =
            parse_token_response(br#"{"access_token":"abc","token_type":"bearer"}"#, sent).unwrap();
        assert_eq!(without_expiry.expires_at, Some(sent + DEFAULT_LIFETIME));
    }
}
