// A DPoP client (RFC 9449) for the integration tests, built on the `oauth4webapi` package:
// gets a DPoP-bound access token from the test provider (provider.mjs, client_credentials
// with a resource indicator) and calls a protected resource with it.
//
//   node dpop-client.mjs --issuer URL --resource URI --url URL [--method GET]
//       [--scope "read write"] [--alg ES256] [--calls N] [--bearer | --reuse-proof]
//       [--no-nonce-retry] [--client-id test-client] [--client-secret test-secret]
//
// It generates a key pair for --alg (ES256 by default; also ES384, ES512, PS256, RS256,
// EdDSA and Ed25519: both of the last two are an Ed25519 key, and the proofs' header `alg`
// is the name given), discovers the issuer, and asks for a client_credentials token with
// `resource` and `scope` and a DPoP proof. Then it sends --method to --url --calls times
// (default 1), each time with `Authorization: DPoP <token>` and a fresh proof (`htm`, `htu`,
// `iat`, a new `jti`, `ath` = the token's SHA-256, and the last `DPoP-Nonce` this origin
// sent, if any). A call answered 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`
// is sent once more with the nonce from that answer (not with --no-nonce-retry). The token
// request retries the same way when the provider demands a nonce (provider --dpop-nonce).
//
// --bearer   asks for the token with a proof, but calls the API with `Authorization: Bearer
//            <token>` and no proof (a client that drops the binding).
// --reuse-proof  calls the API with a proof, then sends the very same request again, proof
//            included (a replay); --calls defaults to 2, and every call after the first
//            replays the first call's (last) proof and token, without nonce retries.
//
// On success it prints one JSON object on stdout and exits 0:
//   {"token_type": "DPoP",            (as the provider sent it)
//    "access_token": "...", "scope": "read write", "expires_in": 3600,
//    "jkt": "...",                    (the SHA-256 JWK thumbprint of the proof key)
//    "calls": [{"status": 200, "www_authenticate": "..." | null, "dpop_nonce": "..." | null,
//               "body": "...", "proof": "<the DPoP header of the last attempt>" | null}],
//    "nonce_retries": N,              (calls resent with a nonce from the API)
//    "token_nonce_retries": N}        (token requests resent with a nonce from the provider)
// Every call is listed by its last attempt, whatever its status. Errors (bad arguments, a
// refused token request, a network failure) go to stderr, with exit status 1.
//
// Modules: it runs from target/idp-node (next to the node_modules that .ci/idp-env.sh
// installs) or from tests/idp, where it finds them in ../../target/idp-node.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const fail = (message) => {
  process.stderr.write(`dpop-client: ${message}\n`);
  process.exit(1);
};

const USAGE = 'usage: node dpop-client.mjs --issuer URL --resource URI --url URL [--method GET] '
  + '[--scope "read write"] [--alg ES256] [--calls N] [--bearer | --reuse-proof] '
  + '[--no-nonce-retry] [--client-id ID] [--client-secret SECRET]';

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      issuer: { type: 'string' },
      resource: { type: 'string' },
      url: { type: 'string' },
      method: { type: 'string', default: 'GET' },
      scope: { type: 'string', default: 'read write' },
      alg: { type: 'string', default: 'ES256' },
      calls: { type: 'string' },
      bearer: { type: 'boolean', default: false },
      'reuse-proof': { type: 'boolean', default: false },
      'no-nonce-retry': { type: 'boolean', default: false },
      'client-id': { type: 'string', default: 'test-client' },
      'client-secret': { type: 'string', default: 'test-secret' },
    },
    strict: true,
  }));
} catch (error) {
  fail(`${error.message}\n${USAGE}`);
}
for (const required of ['issuer', 'resource', 'url']) {
  if (!options[required]) fail(`--${required} is required\n${USAGE}`);
}
if (options.bearer && options['reuse-proof']) fail('--bearer and --reuse-proof exclude each other');
const calls = Number(options.calls ?? (options['reuse-proof'] ? 2 : 1));
if (!Number.isInteger(calls) || calls < 1) fail(`bad --calls ${options.calls}`);
const ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA', 'Ed25519'];
if (!ALGS.includes(options.alg)) fail(`--alg must be one of ${ALGS.join(', ')}`);
const method = options.method.toUpperCase();
let issuer;
let target;
try {
  issuer = new URL(options.issuer);
  target = new URL(options.url);
} catch (error) {
  fail(`bad URL: ${error.message}`);
}

// The modules: beside this script, or where .ci/idp-env.sh installs them.
const importModule = async (name) => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const base of [here, join(here, '..', '..', 'target', 'idp-node')]) {
    let path;
    try {
      path = createRequire(join(base, 'package.json')).resolve(name);
    } catch {
      continue;
    }
    return import(pathToFileURL(path).href);
  }
  return fail(`cannot find the module ${name}: run .ci/idp-env.sh first`);
};
const oauth = await importModule('oauth4webapi');

// Loopback plain http is what the tests run.
const insecure = { [oauth.allowInsecureRequests]: true };

// What was last sent, so --reuse-proof can send it again.
let lastSent;
const recordingFetch = (url, init) => {
  lastSent = { url, init };
  return fetch(url, init);
};

const describe = (error) => {
  if (error instanceof oauth.ResponseBodyError) {
    return `${error.status} ${JSON.stringify(error.cause)}`;
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return `${error.status} WWW-Authenticate: ${error.response.headers.get('www-authenticate')}`;
  }
  const { cause } = error;
  const detail = cause instanceof Error ? `${cause.code ?? ''} ${cause.message}`.trim() : JSON.stringify(cause);
  return `${error.message}${cause ? ` (${detail})` : ''}`;
};

let as;
try {
  as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }),
  );
} catch (error) {
  fail(`discovery of ${issuer.href}: ${describe(error)}`);
}

const client = { client_id: options['client-id'] };
const clientAuth = oauth.ClientSecretBasic(options['client-secret']);

let keyPair;
try {
  keyPair = await oauth.generateKeyPair(options.alg, { extractable: false });
} catch (error) {
  fail(`cannot generate a key pair for ${options.alg}: ${describe(error)}`);
}
// oauth4webapi names an Ed25519 key's algorithm `Ed25519`; --alg EdDSA asks for the
// older name in the proofs' header.
const modifyAssertion = options.alg === 'EdDSA'
  ? (header) => { header.alg = 'EdDSA'; }
  : undefined;
const dpop = oauth.DPoP(client, keyPair, { [oauth.modifyAssertion]: modifyAssertion });
const jkt = await dpop.calculateThumbprint();

// The token.
let token;
let tokenNonceRetries = 0;
for (;;) {
  const parameters = new URLSearchParams({ resource: options.resource });
  if (options.scope) parameters.set('scope', options.scope);
  try {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      clientAuth,
      parameters,
      { DPoP: dpop, ...insecure },
    );
    // oauth4webapi lowercases token_type; the output has it as the provider sent it.
    const raw = response.ok ? await response.clone().json() : undefined;
    token = await oauth.processClientCredentialsResponse(as, client, response);
    token.token_type = raw?.token_type ?? token.token_type;
    break;
  } catch (error) {
    if (oauth.isDPoPNonceError(error) && tokenNonceRetries === 0) {
      // The answer's DPoP-Nonce is cached by the DPoP handle: the next proof carries it.
      tokenNonceRetries += 1;
      continue;
    }
    fail(`token request for ${options.resource}: ${describe(error)}`);
  }
}

// The calls.
const record = async (response, sent) => ({
  status: response.status,
  www_authenticate: response.headers.get('www-authenticate'),
  dpop_nonce: response.headers.get('dpop-nonce'),
  body: await response.text(),
  proof: sent?.init?.headers?.dpop ?? null,
});

const callOnce = async () => {
  lastSent = undefined;
  try {
    const response = await oauth.protectedResourceRequest(
      token.access_token,
      method,
      target,
      new Headers(),
      undefined,
      {
        ...(options.bearer ? {} : { DPoP: dpop }),
        [oauth.customFetch]: recordingFetch,
        ...insecure,
      },
    );
    return { response, sent: lastSent, nonceError: false };
  } catch (error) {
    // Any answer with a WWW-Authenticate challenge throws; it is still an answer.
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      return { response: error.response, sent: lastSent, nonceError: oauth.isDPoPNonceError(error) };
    }
    throw error;
  }
};

const results = [];
let nonceRetries = 0;
let firstSent;
try {
  for (let i = 0; i < calls; i += 1) {
    if (options['reuse-proof'] && firstSent) {
      // The very same request again: same token, same proof.
      const response = await fetch(firstSent.url, { ...firstSent.init, signal: undefined });
      results.push(await record(response, firstSent));
      continue;
    }
    let attempt = await callOnce();
    if (attempt.nonceError && !options['no-nonce-retry'] && !options.bearer) {
      nonceRetries += 1;
      await attempt.response.body?.cancel();
      attempt = await callOnce();
    }
    firstSent ??= attempt.sent;
    results.push(await record(attempt.response, attempt.sent));
  }
} catch (error) {
  fail(`${method} ${target.href}: ${describe(error)}`);
}

process.stdout.write(`${JSON.stringify({
  token_type: token.token_type,
  access_token: token.access_token,
  scope: token.scope ?? null,
  expires_in: token.expires_in ?? null,
  jkt,
  calls: results,
  nonce_retries: nonceRetries,
  token_nonce_retries: tokenNonceRetries,
})}\n`);
