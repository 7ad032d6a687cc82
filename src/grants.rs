//! Roles and scopes: where they live in a token ([`ClaimPath`], [`ClaimPreset`]) and what
//! a verified token grants ([`Grants`]).
//!
//! Identity providers put roles and scopes in different places: Keycloak under
//! `realm_access.roles`, Auth0 in `permissions` and `scope`, Entra ID in `roles` and `scp`,
//! Okta in `groups` and `scp`, Cognito in `cognito:groups` and `scope`. A [`ClaimPath`]
//! names such a place (dotted; `\.` for a dot inside a name, as in Auth0's namespaced
//! URL claims) and a [`ClaimPreset`] bundles a provider's paths.
//!
//! How a value grants, whatever the provider:
//!
//! - an array of strings grants each string, spaces and all (`["user", "admin"]`);
//! - a string grants one role, the whole string (`"role": "user admin"` is one role named
//!   `user admin`, never `admin`);
//! - a string grants the scopes it lists, separated by spaces (U+0020) alone, as RFC 6749
//!   section 3.3 writes scope (`"scope": "read write"`); a tab, a newline or any other
//!   character is part of a scope's name, so `"read\tadmin"` grants no `admin`;
//! - an empty string grants nothing, alone or in an array;
//! - anything else (numbers, objects, `null`) grants nothing.
//!
//! Without configuration, roles come from `roles` and `role`, scopes from `scope` and `scp`.
//! They are resolved once per request, while the payload is read for the claim checks, and
//! a path that repeats a member name makes the token invalid: a payload with `"roles"` twice
//! never grants a role.
//!
//! ```
//! use tower_jwt_auth::{JwtAuthConfig, grants::{ClaimPath, ClaimPreset}};
//!
//! let config = JwtAuthConfig::builder()
//!     .hmac_secret(b"an example secret of at least 32 bytes!")
//!     .claim_preset(ClaimPreset::keycloak("orders-api"))
//!     .roles_claim(ClaimPath::parse(r"https://example\.com/roles"))
//!     .build()
//!     .unwrap();
//! # let _ = config;
//! ```

use std::fmt;

use smallvec::SmallVec;

/// A path to a claim: names of nested JSON members, outermost first.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, TokenIssuer, grants::ClaimPath};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// assert_eq!(ClaimPath::parse("realm_access.roles").segments(), ["realm_access", "roles"]);
/// // `\.` is a dot inside a name, as in Auth0's namespaced claims.
/// let path = ClaimPath::parse(r"https://example\.com/roles");
/// assert_eq!(path, ClaimPath::from_segments(["https://example.com/roles"]));
/// assert_eq!(path.to_string(), r"https://example\.com/roles");
///
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).roles_claim(path).build()?;
/// let issuer = TokenIssuer::builder().hmac_secret(secret).build()?;
/// let token = issuer.issue(&serde_json::json!({"sub": "alice", "https://example.com/roles": ["admin"]}))?;
/// assert!(config.verify(&token)?.grants().has_role("admin"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parses a dotted path; `\.` is a dot inside a name and `\\` a backslash.
    /// `realm_access.roles` has two segments, `https://example\.com/roles` one.
    pub fn parse(path: &str) -> Self {
        let mut segments = Vec::new();
        let mut current = String::new();
        let mut chars = path.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                '.' => segments.push(std::mem::take(&mut current)),
                other => current.push(other),
            }
        }
        segments.push(current);
        Self { segments }
    }

    /// A path from its segments as they are, dots and all.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { segments: segments.into_iter().map(Into::into).collect() }
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

impl From<&str> for ClaimPath {
    fn from(path: &str) -> Self {
        Self::parse(path)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(&segment.replace('\\', "\\\\").replace('.', "\\."))?;
        }
        Ok(())
    }
}

/// Where one identity provider keeps roles and scopes.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, TokenIssuer, grants::ClaimPreset};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder()
///     .hmac_secret(&secret)
///     .claim_preset(ClaimPreset::keycloak("orders-api"))
///     .build()?;
///
/// // What Keycloak puts in an access token: realm roles, each client's roles, and scope.
/// let token = TokenIssuer::builder().hmac_secret(secret).build()?.issue(&serde_json::json!({
///     "sub": "alice",
///     "realm_access": {"roles": ["user"]},
///     "resource_access": {"orders-api": {"roles": ["clerk"]}, "billing": {"roles": ["admin"]}},
///     "scope": "openid profile",
/// }))?;
/// let claims = config.verify(&token)?;
/// assert!(claims.grants().has_role("user") && claims.grants().has_role("clerk"));
/// assert!(!claims.grants().has_role("admin")); // another client's role
/// assert!(claims.grants().has_scope("profile"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPreset {
    roles: Vec<ClaimPath>,
    scopes: Vec<ClaimPath>,
}

impl ClaimPreset {
    /// Keycloak: realm roles (`realm_access.roles`), the client's roles
    /// (`resource_access.<client>.roles`), and `scope`.
    ///
    /// What a default Keycloak realm sends in an access token: the JOSE header `typ: JWT`
    /// (not `at+jwt`, so do not set `required_type("at+jwt")`) and `"typ": "Bearer"` in the
    /// payload; `iss` is `https://<host>/realms/<realm>`; `aud` names the clients the user
    /// holds a client role of (often only `account`), so an API's own audience needs an
    /// audience mapper. The preset merges realm and client roles into one set:
    /// [`Require::realm_role`](crate::Require::realm_role) and
    /// [`Require::client_role`](crate::Require::client_role) tell them apart.
    pub fn keycloak(client: &str) -> Self {
        // Realm roles in `realm_access`, client roles in `resource_access` ("Realm roles are
        // added to the access token into the realm_access claim", "Client roles are added by
        // default to the resource_access claim"):
        // https://www.keycloak.org/docs/latest/server_admin/index.html#_oidc_token_role_mappings
        // Audience: https://www.keycloak.org/docs/latest/server_admin/index.html#audience-support
        // Client scopes named in `scope`:
        // https://www.keycloak.org/docs/latest/server_admin/index.html#_client_scopes
        // The header's `typ: JWT` and the payload's `typ: Bearer` are set by Keycloak's token
        // manager (keycloak/keycloak, DefaultTokenManager and TokenUtil.TOKEN_TYPE_BEARER).
        Self {
            roles: vec![
                ClaimPath::from_segments(["realm_access", "roles"]),
                ClaimPath::from_segments(["resource_access", client, "roles"]),
            ],
            scopes: vec![ClaimPath::parse("scope")],
        }
    }

    /// Auth0: RBAC `permissions` (as roles) and `scope`.
    ///
    /// What a default Auth0 tenant sends in an access token for an API: the header
    /// `typ: JWT` (`at+jwt` only with the RFC 9068 token profile); `iss` is
    /// `https://<tenant domain>/`, with the trailing slash; `aud` is the API's identifier,
    /// or an array adding the userinfo URL when `openid` was requested; `scope` is a
    /// space-separated string. `permissions` is there only with "Enable RBAC" and "Add
    /// Permissions in the Access Token" on. Roles themselves are not in the token unless an
    /// Action adds a namespaced claim: read it with
    /// `.roles_claim(ClaimPath::parse(r"https://example\.com/roles"))`.
    pub fn auth0() -> Self {
        // Token profiles, `typ`, `permissions` and `scope`:
        // https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
        // `aud` as an array with `openid`, `iss` with its trailing slash:
        // https://auth0.com/docs/secure/tokens/access-tokens/get-access-tokens
        // Namespaced custom claims:
        // https://auth0.com/docs/secure/tokens/json-web-tokens/create-custom-claims
        Self { roles: vec![ClaimPath::parse("permissions")], scopes: vec![ClaimPath::parse("scope")] }
    }

    /// Microsoft Entra ID: app `roles` and delegated `scp`.
    ///
    /// What Entra ID sends in an access token for your API: the header `typ: JWT`; `roles`,
    /// an array of app roles (the permissions of an app calling as itself); `scp`, a
    /// space-separated string, in tokens for a user only. The API's manifest
    /// (`accessTokenAcceptedVersion`) picks the token version, and with it `iss`:
    /// `https://sts.windows.net/<tenant>/` for v1.0 (the default),
    /// `https://login.microsoftonline.com/<tenant>/v2.0` for v2.0; `aud` is the API's client
    /// id (v2.0) or its client id or app ID URI (v1.0). Tokens meant for Microsoft Graph are
    /// not for your API to verify.
    pub fn entra_id() -> Self {
        // `typ`, `roles`, `scp`, `aud`, `ver`:
        // https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
        // Versions, issuers, and Graph tokens:
        // https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens
        Self { roles: vec![ClaimPath::parse("roles")], scopes: vec![ClaimPath::parse("scp")] }
    }

    /// Okta: `groups` (as roles) and `scp`.
    ///
    /// What a custom Okta authorization server (such as `default`) sends in an access
    /// token: `iss` is `https://<your Okta domain>/oauth2/default` and `aud` is
    /// `api://default` unless changed; `scp` is an **array** of scopes (each element grants
    /// one); `groups` is there only once a groups claim is added to the authorization
    /// server for access tokens. Okta documents no header `typ`, so do not require one.
    /// Tokens of the org authorization server are for Okta's own APIs.
    pub fn okta() -> Self {
        // `scp` as an array, `cid`, `uid`:
        // https://developer.okta.com/docs/concepts/oauth-claims/
        // A groups claim for a custom authorization server:
        // https://developer.okta.com/docs/guides/customize-tokens-groups-claim/main/
        // `iss` and `aud` of the default server:
        // https://developer.okta.com/docs/guides/customize-tokens-returned-from-okta/main/
        Self { roles: vec![ClaimPath::parse("groups")], scopes: vec![ClaimPath::parse("scp")] }
    }

    /// AWS Cognito: `cognito:groups` (as roles) and `scope`.
    ///
    /// What a Cognito user pool sends in an access token: a header with `kid` and `alg`
    /// only (no `typ`); `iss` is `https://cognito-idp.<region>.amazonaws.com/<user pool id>`;
    /// `token_use` is `access`; `cognito:groups` is an array; `scope` a string. An access
    /// token has **no `aud`**: it names the app client in `client_id`, so leave
    /// `.audience(...)` unset and check the client with
    /// `Require::claim_equals("client_id", "<app client id>")`.
    pub fn cognito() -> Self {
        // Header, `cognito:groups`, `token_use`, `scope`, `iss`:
        // https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
        // `client_id` rather than `aud` in access tokens:
        // https://docs.aws.amazon.com/verifiedpermissions/latest/userguide/cognito-validation.html
        Self { roles: vec![ClaimPath::parse("cognito:groups")], scopes: vec![ClaimPath::parse("scope")] }
    }

    /// Plain OAuth 2.0: `scope` (a space-separated string) and `scp` (an array); no roles.
    pub fn oauth2() -> Self {
        Self { roles: vec![], scopes: vec![ClaimPath::parse("scope"), ClaimPath::parse("scp")] }
    }

    pub(crate) fn into_parts(self) -> (Vec<ClaimPath>, Vec<ClaimPath>) {
        (self.roles, self.scopes)
    }
}

/// The default places: roles in `roles` and `role`, scopes in `scope` and `scp`.
pub(crate) fn default_role_paths() -> Vec<ClaimPath> {
    vec![ClaimPath::parse("roles"), ClaimPath::parse("role")]
}

pub(crate) fn default_scope_paths() -> Vec<ClaimPath> {
    vec![ClaimPath::parse("scope"), ClaimPath::parse("scp")]
}

/// The roles and scopes of a verified token: sorted, without repeats.
///
/// Every name is kept in one buffer, so a token's grants cost two allocations however many
/// names it has, and none for a token of two names or fewer, in 24 bytes or fewer.
///
/// ```
/// use tower_jwt_auth::{JwtAuthConfig, TokenIssuer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = b"an example secret of at least 32 bytes!".to_vec();
/// let config = JwtAuthConfig::builder().hmac_secret(&secret).build()?; // roles, role, scope, scp
/// let issuer = TokenIssuer::builder().hmac_secret(secret).build()?;
/// let token = issuer.issue(&serde_json::json!({
///     "sub": "alice",
///     "roles": ["user", "admin"],
///     "role": "billing clerk",
///     "scope": "orders:write orders:read",
/// }))?;
///
/// let claims = config.verify(&token)?;
/// let grants = claims.grants();
/// assert!(grants.has_role("admin") && grants.has_scope("orders:read"));
/// // A string is one role, the whole string; scopes are separated by spaces.
/// assert!(grants.has_role("billing clerk") && !grants.has_role("clerk"));
/// assert_eq!(grants.roles().collect::<Vec<_>>(), ["admin", "billing clerk", "user"]);
/// assert_eq!(grants.scopes().collect::<Vec<_>>(), ["orders:read", "orders:write"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Grants {
    /// Every name, back to back: UTF-8, as only `&str`s are added.
    names: SmallVec<[u8; 24]>,
    /// Where each name is in `names`: the roles sorted, then the scopes sorted (once read).
    entries: SmallVec<[Entry; 2]>,
    /// How many of `entries` are roles.
    roles: usize,
}

/// One role or scope: a range of [`Grants::names`].
#[derive(Clone, Copy)]
struct Entry {
    target: Target,
    start: usize,
    end: usize,
}

impl Grants {
    /// True when the token grants this role.
    pub fn has_role(&self, role: &str) -> bool {
        self.list(Target::Roles).binary_search_by(|entry| self.bytes(entry).cmp(role.as_bytes())).is_ok()
    }

    /// True when the token grants this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.list(Target::Scopes).binary_search_by(|entry| self.bytes(entry).cmp(scope.as_bytes())).is_ok()
    }

    /// Every role, sorted.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.list(Target::Roles).iter().map(|entry| self.name(entry))
    }

    /// Every scope, sorted.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.list(Target::Scopes).iter().map(|entry| self.name(entry))
    }

    /// A name's bytes: they compare as its string does (UTF-8 keeps the order of code
    /// points).
    fn bytes(&self, entry: &Entry) -> &[u8] {
        &self.names[entry.start..entry.end]
    }

    fn name(&self, entry: &Entry) -> &str {
        // Every range was a whole `&str` when it was added: this never fails.
        std::str::from_utf8(self.bytes(entry)).unwrap_or_default()
    }

    fn list(&self, target: Target) -> &[Entry] {
        let (roles, scopes) = self.entries.split_at(self.roles);
        match target {
            Target::Roles => roles,
            Target::Scopes => scopes,
        }
    }

    /// Adds `name` to each of `targets` (nothing when there is none). An empty string names
    /// nothing, in an array as alone.
    pub(crate) fn add(&mut self, targets: &[Target], name: &str) {
        if targets.is_empty() || name.is_empty() {
            return;
        }
        if self.entries.len() == self.entries.inline_size() && !self.entries.spilled() {
            // Past the inline room: room for a usual token's names at once, instead of
            // growing from a few bytes.
            self.names.reserve(64);
            self.entries.reserve(8);
        }
        let start = self.names.len();
        self.names.extend_from_slice(name.as_bytes());
        let end = self.names.len();
        self.entries.extend(targets.iter().map(|&target| Entry { target, start, end }));
    }

    /// Adds the names a string claim holds: for roles the whole string, one role name; for
    /// scopes its scope-tokens, which RFC 6749 section 3.3 separates by spaces (U+0020)
    /// alone. An empty string, and empty tokens between spaces, name nothing.
    pub(crate) fn add_string(&mut self, targets: &[Target], value: &str) {
        for &target in targets {
            match target {
                Target::Roles => self.add(&[Target::Roles], value),
                Target::Scopes => {
                    // Empty tokens (between two spaces) name nothing: `add` skips them.
                    for token in value.split(' ') {
                        self.add(&[Target::Scopes], token);
                    }
                }
            }
        }
    }

    /// Sorts the names and drops repeats, once every name is in.
    pub(crate) fn finish(&mut self) {
        // Bytes compare as their strings do (UTF-8 keeps the order of code points), without
        // a char-boundary check per comparison. Tokens often list their names in order and
        // once each already: one pass finds out, and the sort and the dedup are skipped.
        let names = &self.names[..];
        let key = |entry: &Entry| (entry.target, &names[entry.start..entry.end]);
        if !self.entries.is_sorted_by(|a, b| key(a) < key(b)) {
            self.entries.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
            self.entries.dedup_by(|a, b| key(a) == key(b));
        }
        self.roles = self.entries.partition_point(|entry| entry.target == Target::Roles);
    }
}

impl PartialEq for Grants {
    fn eq(&self, other: &Self) -> bool {
        self.roles().eq(other.roles()) && self.scopes().eq(other.scopes())
    }
}

impl Eq for Grants {}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants")
            .field("roles", &self.roles().collect::<Vec<_>>())
            .field("scopes", &self.scopes().collect::<Vec<_>>())
            .finish()
    }
}

/// Which list a path feeds (roles sort first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    Roles,
    Scopes,
}

/// The configured paths as a tree, built once.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathTree {
    /// The members on a path, by name, and what lies below each.
    pub(crate) children: Vec<(Box<str>, PathTree)>,
    /// The lists the strings found here feed (none when paths only go through).
    pub(crate) collect: Vec<Target>,
}

impl PathTree {
    pub(crate) fn new(roles: &[ClaimPath], scopes: &[ClaimPath]) -> Self {
        let mut root = PathTree::default();
        for (paths, target) in [(roles, Target::Roles), (scopes, Target::Scopes)] {
            for path in paths {
                let mut node = &mut root;
                for segment in &path.segments {
                    let index = match node.children.iter().position(|(name, _)| name.as_ref() == segment) {
                        Some(index) => index,
                        None => {
                            node.children.push((segment.as_str().into(), PathTree::default()));
                            node.children.len() - 1
                        }
                    };
                    node = &mut node.children[index].1;
                }
                if !node.collect.contains(&target) {
                    node.collect.push(target);
                }
            }
        }
        root
    }

    /// The child `name`, with its index among the children.
    pub(crate) fn child(&self, name: &str) -> Option<(usize, &PathTree)> {
        // Most members are no child: the length and the two end bytes rule them out without
        // a call to compare the whole names.
        let name = name.as_bytes();
        let ends = |n: &[u8]| (n.len(), n.first().copied(), n.last().copied());
        let wanted = ends(name);
        self.children
            .iter()
            .enumerate()
            .find(|(_, (n, _))| ends(n.as_bytes()) == wanted && n.as_bytes() == name)
            .map(|(i, (_, t))| (i, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_kept_inline_or_on_the_heap_read_alike() {
        use std::collections::BTreeSet;
        for count in 0..12 {
            for length in [1, 5, 13, 30] {
                let mut grants = Grants::default();
                let (mut roles, mut scopes) = (BTreeSet::new(), BTreeSet::new());
                for n in (0..count).rev() {
                    let name = format!("{n:0>length$}é");
                    let both = [Target::Roles, Target::Scopes];
                    let targets = if n % 3 == 0 { &both[..] } else { &both[n % 2..n % 2 + 1] };
                    grants.add(targets, &name);
                    grants.add(targets, &name); // a repeat
                    if targets.contains(&Target::Roles) {
                        roles.insert(name.clone());
                    }
                    if targets.contains(&Target::Scopes) {
                        scopes.insert(name);
                    }
                }
                grants.finish();
                assert!(grants.roles().eq(roles.iter().map(String::as_str)), "{count} {length}");
                assert!(grants.scopes().eq(scopes.iter().map(String::as_str)), "{count} {length}");
                assert!(roles.iter().all(|role| grants.has_role(role)));
                assert!(scopes.iter().all(|scope| grants.has_scope(scope)));
                assert!(!grants.has_role("missing") && !grants.has_scope(""));
            }
        }
    }

    #[test]
    fn paths_parse_with_escaped_dots() {
        assert_eq!(ClaimPath::parse("realm_access.roles").segments(), ["realm_access", "roles"]);
        assert_eq!(ClaimPath::parse(r"https://x\.com/roles").segments(), ["https://x.com/roles"]);
        assert_eq!(ClaimPath::parse(r"https://x\.com/roles").to_string(), r"https://x\.com/roles");
    }
}
