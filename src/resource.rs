//! This server as an OAuth protected resource: its identifier (RFC 8707), its metadata
//! document (RFC 9728), and the link to that document in every challenge.
//!
//! Configure the resource identifier once with
//! [`JwtAuthConfigBuilder::protected_resource`](crate::JwtAuthConfigBuilder::protected_resource).
//! Then:
//!
//! - **the audience check accepts the identifier**: a client asks its authorization server
//!   for a token with `resource=<identifier>` (RFC 8707), the server puts it in the token's
//!   `aud`, and this configuration accepts it (besides any
//!   [`audience`](crate::JwtAuthConfigBuilder::audience) configured);
//! - **every challenge links the metadata**: `WWW-Authenticate: Bearer realm="api",
//!   resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp"`;
//! - **[`ResourceMetadata`] serves the document** that the link names (from
//!   [`JwtAuthConfig::resource_metadata`](crate::JwtAuthConfig::resource_metadata)):
//!   `resource`, `authorization_servers` (the configured issuers), `scopes_supported`,
//!   `bearer_methods_supported` (from the token sources), and the DPoP members when
//!   [DPoP](crate::dpop) is on.
//!
//! This is what an MCP client, or any OAuth client that follows RFC 9728, needs to find
//! where to get a token: the 401 names the metadata, the metadata names the
//! authorization server, the client asks that server for a token for this resource.
//!
//! ```
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_jwt_auth::{JwtAuthConfig, resource::ProtectedResource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .issuer("https://auth.example.com")
//!     .protected_resource(ProtectedResource::new("https://api.example.com/mcp").scopes_supported(["mcp:tools"]))
//!     .build()?;
//!
//! let metadata = config.resource_metadata().expect("a protected resource is configured");
//! assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/mcp");
//! assert_eq!(metadata.url(), "https://api.example.com/.well-known/oauth-protected-resource/mcp");
//! // With axum, for each of `metadata.paths()`: `.route_service(path, metadata.clone())`.
//!
//! let response = metadata.oneshot(Request::get("/.well-known/oauth-protected-resource/mcp").body(())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let body = http_body_util::BodyExt::collect(response.into_body()).await?.to_bytes();
//! let document: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(document["resource"], "https://api.example.com/mcp");
//! assert_eq!(document["authorization_servers"][0], "https://auth.example.com");
//! assert_eq!(document["scopes_supported"][0], "mcp:tools");
//! assert_eq!(document["bearer_methods_supported"][0], "header");
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW,
    CACHE_CONTROL, CONTENT_TYPE, HeaderValue,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

use crate::error::ConfigError;
use crate::url::{HttpUrl, UrlError};

/// The well-known path of protected resource metadata (RFC 9728 section 3).
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// This server as an OAuth protected resource (RFC 9728, RFC 8707): its identifier and what
/// its metadata document says beyond what the configuration already tells. Set it with
/// [`JwtAuthConfigBuilder::protected_resource`](crate::JwtAuthConfigBuilder::protected_resource);
/// see the [module](self) for what it turns on.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, resource::ProtectedResource};
///
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .protected_resource(
///         ProtectedResource::new("https://api.example.com")
///             .scopes_supported(["orders:read", "orders:write"])
///             .authorization_servers(["https://login.example.com"])
///             .resource_name("Orders API"),
///     )
///     .build()
///     .unwrap();
/// // The identifier has no path: the metadata sits at the well-known path itself.
/// assert_eq!(config.resource_metadata().unwrap().url(), "https://api.example.com/.well-known/oauth-protected-resource");
///
/// // The identifier is an https URL (http on a loopback host), without query or fragment.
/// let error = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .protected_resource(ProtectedResource::new("http://api.example.com"))
///     .build()
///     .unwrap_err();
/// assert!(error.message().contains("https"));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ProtectedResource {
    resource: String,
    scopes: Vec<String>,
    authorization_servers: Option<Vec<String>>,
    name: Option<String>,
    documentation: Option<String>,
    link_in_challenges: bool,
}

impl ProtectedResource {
    /// The resource identifier: the https URL clients use for this API (RFC 8707 section 2;
    /// RFC 9728 section 1.2). Plain http is accepted on loopback hosts only, for
    /// development. Tokens whose `aud` names it are accepted.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            scopes: Vec::new(),
            authorization_servers: None,
            name: None,
            documentation: None,
            link_in_challenges: true,
        }
    }

    /// The scopes clients may ask for this resource (`scopes_supported`). Default: none, and
    /// the member is left out.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The authorization servers that issue tokens for this resource
    /// (`authorization_servers`), replacing the default: every configured issuer that is an
    /// http(s) URL (from [`issuer`](crate::JwtAuthConfigBuilder::issuer), the issuer an
    /// [`oidc_issuer`](crate::JwtAuthConfigBuilder::oidc_issuer) names, and each
    /// [`trusted_issuer`](crate::JwtAuthConfigBuilder::trusted_issuer)).
    pub fn authorization_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = Some(servers.into_iter().map(Into::into).collect());
        self
    }

    /// A name for people (`resource_name`). Default: none.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A page documenting the API (`resource_documentation`). Default: none.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// Whether every challenge carries `resource_metadata="<url>"` (RFC 9728 section 5.1).
    /// Default: true.
    pub fn link_in_challenges(mut self, link: bool) -> Self {
        self.link_in_challenges = link;
        self
    }
}

/// A [`ProtectedResource`] checked by `build()`.
pub(crate) struct PreparedResource {
    /// The identifier as configured: the `resource` member and an accepted audience.
    pub(crate) identifier: String,
    /// Where its metadata lives.
    pub(crate) metadata_url: HttpUrl,
    pub(crate) link_in_challenges: bool,
    scopes: Vec<String>,
    authorization_servers: Option<Vec<String>>,
    name: Option<String>,
    documentation: Option<String>,
}

impl ProtectedResource {
    pub(crate) fn prepare(self) -> Result<PreparedResource, ConfigError> {
        let url = HttpUrl::parse(&self.resource).map_err(|error| {
            ConfigError::value(match error {
                UrlError::QueryOrFragment => format!(
                    "the protected resource {:?} has a query or fragment; RFC 9728 identifiers have neither",
                    self.resource
                ),
                UrlError::NotHttp => format!(
                    "the protected resource {:?} is not an absolute https URL like \"https://api.example.com/mcp\"",
                    self.resource
                ),
            })
        })?;
        if !url.is_secure_or_loopback() {
            return Err(ConfigError::value(format!(
                "the protected resource {:?} must use https (plain http only on localhost or 127.0.0.1)",
                self.resource
            )));
        }
        if self.scopes.iter().any(|scope| scope.is_empty() || scope.contains([' ', '"', '\\'])) {
            return Err(ConfigError::value(
                "a supported scope cannot be empty or hold spaces, quotes or backslashes",
            ));
        }
        // RFC 9728 section 3.1: the well-known path goes between the host and the
        // identifier's path; an identifier without a path (or with `/` alone) has none
        // after it. A trailing slash of a longer path is kept: `/mcp/` is not `/mcp`.
        let path = if url.path() == "/" { "" } else { url.path() };
        let metadata_url = HttpUrl::parse(&format!("{}{WELL_KNOWN}{path}", url.origin()))
            .map_err(|_| ConfigError::value("the protected resource's metadata URL is not valid"))?;
        Ok(PreparedResource {
            identifier: self.resource,
            metadata_url,
            link_in_challenges: self.link_in_challenges,
            scopes: self.scopes,
            authorization_servers: self.authorization_servers,
            name: self.name,
            documentation: self.documentation,
        })
    }
}

/// What the configuration contributes to the metadata document.
pub(crate) struct DocumentInputs<'a> {
    pub(crate) issuers: Vec<&'a str>,
    pub(crate) bearer_methods: Vec<&'static str>,
    /// The DPoP proof algorithms and whether DPoP is required, when DPoP is on.
    pub(crate) dpop: Option<(Vec<&'static str>, bool)>,
}

impl PreparedResource {
    /// The audiences a token for this resource may name: the identifier as configured, and
    /// for one without a path, the same with and without the trailing slash (clients and
    /// servers write `https://api.example.com` both ways).
    pub(crate) fn audiences(&self) -> Vec<String> {
        let mut audiences = vec![self.identifier.clone()];
        if self.metadata_url.path() == WELL_KNOWN {
            let other = match self.identifier.strip_suffix('/') {
                Some(bare) => bare.to_owned(),
                None => format!("{}/", self.identifier),
            };
            audiences.push(other);
        }
        audiences
    }

    /// The origin clients reach the resource at (`scheme://host[:port]`).
    pub(crate) fn origin(&self) -> HttpUrl {
        HttpUrl::parse(self.metadata_url.origin()).expect("an origin is a URL")
    }

    /// The metadata service, its document written once.
    pub(crate) fn metadata(&self, inputs: DocumentInputs<'_>) -> ResourceMetadata {
        let mut document = serde_json::Map::new();
        document.insert("resource".into(), self.identifier.clone().into());
        let servers: Vec<String> = match &self.authorization_servers {
            Some(servers) => servers.clone(),
            None => {
                let mut servers: Vec<String> = Vec::new();
                for issuer in inputs.issuers {
                    if HttpUrl::parse(issuer).is_ok() && !servers.iter().any(|known| known == issuer) {
                        servers.push(issuer.to_owned());
                    }
                }
                servers
            }
        };
        // RFC 9728 section 2: members without a value are left out.
        let mut list = |name: &str, values: Vec<String>| {
            if !values.is_empty() {
                document.insert(name.into(), values.into());
            }
        };
        list("authorization_servers", servers);
        list("scopes_supported", self.scopes.clone());
        list("bearer_methods_supported", inputs.bearer_methods.iter().map(|m| (*m).to_owned()).collect());
        if let Some((algorithms, required)) = inputs.dpop {
            list("dpop_signing_alg_values_supported", algorithms.iter().map(|a| (*a).to_owned()).collect());
            if required {
                document.insert("dpop_bound_access_tokens_required".into(), true.into());
            }
        }
        if let Some(name) = &self.name {
            document.insert("resource_name".into(), name.clone().into());
        }
        if let Some(documentation) = &self.documentation {
            document.insert("resource_documentation".into(), documentation.clone().into());
        }
        let body = Bytes::from(serde_json::Value::Object(document).to_string());
        ResourceMetadata {
            body,
            url: self.metadata_url.to_string(),
            path: self.metadata_url.path().to_owned(),
        }
    }
}

/// Serves this resource's metadata document (RFC 9728): a Tower service, usable as an axum
/// route (`.route_service(path, metadata.clone())` for each of its [`paths`](Self::paths))
/// or from a hyper service.
/// Made by [`JwtAuthConfig::resource_metadata`](crate::JwtAuthConfig::resource_metadata).
///
/// It answers `GET` and `HEAD` of its own [`path`](Self::path) and of
/// `/.well-known/oauth-protected-resource` (the form clients try when they do not know the
/// resource's path) with the JSON document, `Cache-Control: max-age=3600` and
/// `Access-Control-Allow-Origin: *` (the document is public; browser-based clients read
/// it across origins), `OPTIONS` with the CORS answer, other methods with 405 and other
/// paths with 404. Mount it outside the authentication layer: the document is public.
///
/// ```
/// use http::{Method, Request, StatusCode};
/// use tower::ServiceExt;
/// use tower_jwt_auth::{JwtAuthConfig, resource::ProtectedResource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(b"an example secret of at least 32 bytes!")
///     .protected_resource(ProtectedResource::new("https://api.example.com/v1"))
///     .build()?;
/// let metadata = config.resource_metadata().unwrap();
/// let get = |path: &str| Request::get(path).body(());
///
/// let answer = metadata.clone().oneshot(get("/.well-known/oauth-protected-resource")?).await?;
/// assert_eq!(answer.status(), StatusCode::OK);
/// assert_eq!(answer.headers()["content-type"], "application/json");
/// let answer = metadata.clone().oneshot(get("/.well-known/oauth-protected-resource/v2")?).await?;
/// assert_eq!(answer.status(), StatusCode::NOT_FOUND);
/// let answer = metadata.oneshot(Request::post("/.well-known/oauth-protected-resource/v1").body(())?).await?;
/// assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ResourceMetadata {
    body: Bytes,
    url: String,
    path: String,
}

impl fmt::Debug for ResourceMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceMetadata").field("url", &self.url).finish_non_exhaustive()
    }
}

impl ResourceMetadata {
    /// The path this document is served at: `/.well-known/oauth-protected-resource`
    /// followed by the resource identifier's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every path this document is served at: [`path`](Self::path), and
    /// `/.well-known/oauth-protected-resource` when that is another (the identifier has a
    /// path), where clients look when they do not know the resource's path. The root path
    /// describes one resource: a server with several routes only each one's
    /// [`path`](Self::path), and the root for one of them at most (axum refuses, with a
    /// panic at start-up, a path routed twice). Route each:
    ///
    /// ```
    /// # use tower_jwt_auth::{JwtAuthConfig, resource::ProtectedResource};
    /// # let config = JwtAuthConfig::builder()
    /// #     .hmac_secret(b"an example secret of at least 32 bytes!")
    /// #     .protected_resource(ProtectedResource::new("https://api.example.com/mcp"))
    /// #     .build()
    /// #     .unwrap();
    /// let metadata = config.resource_metadata().unwrap();
    /// let mut app = axum::Router::new();
    /// for path in metadata.paths() {
    ///     app = app.route_service(path, metadata.clone());
    /// }
    /// # let _: axum::Router = app;
    /// ```
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let root = (self.path != WELL_KNOWN).then_some(WELL_KNOWN);
        std::iter::once(self.path.as_str()).chain(root)
    }

    /// The document's absolute URL, as challenges name it in `resource_metadata`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The document itself, as JSON.
    pub fn document(&self) -> &Bytes {
        &self.body
    }

    fn answer(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::default());
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        if path != self.path && path != WELL_KNOWN {
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
        match *method {
            Method::GET | Method::HEAD => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
                if method == Method::GET {
                    *response.body_mut() = Full::new(self.body.clone());
                }
            }
            Method::OPTIONS => {
                headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
                headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("*"));
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            _ => {
                headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS"));
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            }
        }
        response
    }
}

impl<B> Service<Request<B>> for ResourceMetadata {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.answer(request.method(), request.uri().path())))
    }
}
