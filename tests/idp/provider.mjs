// A real OpenID provider (the `oidc-provider` package, 9.x) on loopback for the integration
// tests: client_credentials with resource indicators, so every token is a JWT access token
// (`typ: at+jwt`) signed with the algorithm of the resource it was asked for.
//
//   node provider.mjs --keys <private JWKS file> [--port N] [--token-ttl SECONDS] [--dpop-nonce]
//
// --token-ttl sets the access tokens' lifetime (default 3600), short for renewal tests.
// --dpop-nonce makes the token endpoint demand a DPoP nonce (RFC 9449 section 8): a token
// request whose proof has no valid `nonce` gets 400 `use_dpop_nonce` with a `DPoP-Nonce`
// header to retry with. Without it no nonce is ever demanded (nor offered).
// GET /test/token-requests answers {"count": N}: how many token requests (POST /token) the
// provider has served, so a test can prove how often a client fetched.
//
// --port 0 (or no --port) picks a free port. The issuer is http://127.0.0.1:<port>. Every key
// of the file is published at the jwks_uri; each key needs a `kid` and an `alg` (RS256, PS256,
// ES256 or EdDSA). Tokens for a resource are signed with the first key in the file whose
// `alg` is that resource's (so a file may list a new key before an old one it still
// publishes, for key rotation).
//
// Once listening it prints exactly one line on stdout,
//   {"issuer":"http://127.0.0.1:PORT","port":PORT}
// and runs until SIGTERM or SIGINT. Nothing else goes to stdout; errors go to stderr.
//
// The one client: client_id `test-client`, client_secret `test-secret`, grant type
// client_credentials, authenticating with client_secret_basic or client_secret_post.
// Resources (their access tokens' `aud`), with scopes `read write`:
//   urn:test:rs256  urn:test:ps256  urn:test:es256  urn:test:eddsa
// and any `http://127.0.0.1:<port>/<path>` (an API a test runs on loopback; no query, no
// fragment): its tokens' `aud` is exactly that string, and they are signed with ES256.
//
// DPoP (RFC 9449): a token request that carries a `DPoP` proof header (alg ES256, ES384,
// ES512, PS256, RS256, EdDSA or Ed25519; htm POST, htu the token endpoint) gets a
// DPoP-bound access token: `token_type: "DPoP"` in the response, `cnf: {"jkt": <the proof
// key's SHA-256 JWK thumbprint>}` in the JWT. A proof's `jti` is accepted once (a replayed
// proof is refused with invalid_grant). A request without a proof gets a plain Bearer token,
// as before.
// dpop-client.mjs (beside this file) is a DPoP client for the tests.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints notices with console.info (stdout) and warnings with console.warn.
// Stdout carries only the JSON line, so everything else goes to stderr, and the notices
// that are expected in this test setup are dropped (Node 20 is older than it prefers; the
// in-memory storage is what a test provider wants).
const EXPECTED_NOTICES = [
  'Unsupported runtime',
  'in-memory adapter',
];
const toStderr = (...args) => {
  const line = args.map(String).join(' ');
  if (!EXPECTED_NOTICES.some((notice) => line.includes(notice))) {
    process.stderr.write(`${line}\n`);
  }
};
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;

const fail = (message) => {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
};

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      keys: { type: 'string' },
      port: { type: 'string', default: '0' },
      'token-ttl': { type: 'string', default: '3600' },
      'dpop-nonce': { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail(`${error.message}\nusage: node provider.mjs --keys <jwks.json> [--port N] [--token-ttl SECONDS] [--dpop-nonce]`);
}
if (!options.keys) fail('--keys <private JWKS file> is required');
const port = Number(options.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${options.port}`);
const tokenTtl = Number(options['token-ttl']);
if (!Number.isInteger(tokenTtl) || tokenTtl < 1) fail(`bad --token-ttl ${options['token-ttl']}`);

let jwks;
try {
  jwks = JSON.parse(readFileSync(options.keys, 'utf8'));
} catch (error) {
  fail(`cannot read the key file ${options.keys}: ${error.message}`);
}
if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) fail(`${options.keys} has no "keys"`);
for (const [i, key] of jwks.keys.entries()) {
  if (typeof key.kid !== 'string' || typeof key.alg !== 'string') {
    fail(`${options.keys}: keys[${i}] needs a "kid" and an "alg"`);
  }
}

const RESOURCES = {
  'urn:test:rs256': 'RS256',
  'urn:test:ps256': 'PS256',
  'urn:test:es256': 'ES256',
  'urn:test:eddsa': 'EdDSA',
};
// An API a test started on loopback: http://127.0.0.1:<port>/<path>, signed with ES256.
const LOOPBACK_RESOURCE = /^http:\/\/127\.0\.0\.1:([1-9][0-9]{0,4})\/[^\s?#]*$/;
const LOOPBACK_ALG = 'ES256';
const resourceAlg = (resourceIndicator) => {
  if (Object.hasOwn(RESOURCES, resourceIndicator)) return RESOURCES[resourceIndicator];
  const loopback = LOOPBACK_RESOURCE.exec(resourceIndicator);
  if (loopback && Number(loopback[1]) <= 65535) return LOOPBACK_ALG;
  return undefined;
};
const SCOPES = 'read write';
// The algorithms a DPoP proof may be signed with (oidc-provider's default is only ES256,
// Ed25519 and EdDSA).
const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA', 'Ed25519'];

// Loaded after the console is redirected: the package warns about the runtime on import.
const { default: Provider, errors } = await import('oidc-provider');

// Listen first: with --port 0 the issuer (which has the port in it) is known only then.
let handle = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handle(req, res));

// A restart on the same port may race the previous process's exit; retry for a few seconds.
const listen = (attempt = 0) => new Promise((resolve, reject) => {
  const onError = (error) => {
    server.off('listening', onListening);
    if (error.code === 'EADDRINUSE' && port !== 0 && attempt < 50) {
      setTimeout(() => listen(attempt + 1).then(resolve, reject), 100);
    } else {
      reject(error);
    }
  };
  const onListening = () => {
    server.off('error', onError);
    resolve();
  };
  server.once('error', onError);
  server.once('listening', onListening);
  server.listen(port, '127.0.0.1');
});
try {
  await listen();
} catch (error) {
  fail(`cannot listen on 127.0.0.1:${port}: ${error.message}`);
}

const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

let provider;
try {
  provider = new Provider(issuer, {
    jwks,
    clients: [
      {
        client_id: 'test-client',
        client_secret: 'test-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // client_secret_post is accepted as well: oidc-provider takes either of the two
        // secret methods for a client registered with one of them.
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'read', 'write'],
    ttl: { ClientCredentials: tokenTtl },
    enabledJWA: { dPoPSigningAlgValues: DPOP_ALGS },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // On by default in oidc-provider 9, spelt out here. No nonceSecret: the provider then
      // neither offers nor accepts nonces, and demands none. With --dpop-nonce it has a
      // random secret and demands a nonce in every proof.
      dPoP: {
        enabled: true,
        nonceSecret: options['dpop-nonce'] ? randomBytes(32) : undefined,
        requireNonce: () => options['dpop-nonce'],
        allowReplay: false,
      },
      resourceIndicators: {
        enabled: true,
        // The `resource` parameter is required: a token without one would be opaque.
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          const alg = resourceAlg(resourceIndicator);
          if (!alg) throw new errors.InvalidTarget();
          return {
            scope: SCOPES,
            audience: resourceIndicator,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
  });
} catch (error) {
  fail(`cannot configure the provider: ${error.message}${error.cause ? ` (${JSON.stringify(error.cause.kid ?? '')})` : ''}`);
}

// Loopback plain http: no TLS terminator in front, so no proxy headers to trust.
provider.proxy = false;
for (const event of ['server_error', 'grant.error']) {
  provider.on(event, (_ctx, error) => {
    process.stderr.write(`idp: ${event}: ${error?.message ?? error}${error?.error_description ? ` (${error.error_description})` : ''}\n`);
  });
}

const providerCallback = provider.callback();
let tokenRequests = 0;
handle = (req, res) => {
  if (req.method === 'GET' && req.url === '/test/token-requests') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ count: tokenRequests }));
    return;
  }
  if (req.method === 'POST' && req.url.split('?')[0] === '/token') tokenRequests += 1;
  providerCallback(req, res);
};

process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
