// An MCP client for the integration tests, built on the official MCP TypeScript SDK (the npm
// package `@modelcontextprotocol/sdk`): it follows the MCP authorization chain against a
// protected MCP server with the client_credentials grant, then calls one tool.
//
//   node mcp-client.mjs --url http://127.0.0.1:PORT/mcp --issuer http://127.0.0.1:IDPPORT
//       [--tool whoami] [--scope read] [--client-id test-client] [--client-secret test-secret]
//
// It uses the SDK's Client over a StreamableHTTPClientTransport to --url, with a
// ClientCredentialsProvider (client_secret_basic with --client-id and --client-secret,
// `expectedIssuer` = --issuer, so the credentials only go to that authorization server;
// --scope is the provider's scope, used when the protected resource metadata names none).
// The SDK does the rest: the server's 401 with `WWW-Authenticate: Bearer
// resource_metadata="..."`, the protected resource metadata (RFC 9728), the authorization
// server metadata (RFC 8414 / OpenID discovery), a client_credentials token request with the
// RFC 8707 `resource` parameter, and the MCP request again with the token. Then it connects
// (initialize), lists the tools, calls --tool (default `whoami`) with no arguments, and closes.
//
// Every HTTP exchange goes through a recording fetch. On success it prints one JSON object on
// stdout and exits 0:
//   {"tools": ["whoami", ...],            (the names tools/list returned)
//    "result": "...",                     (the tool call's text content, joined with "\n")
//    "exchanges": [{"method": "POST", "url": "...", "status": 401,
//                   "www_authenticate": "Bearer resource_metadata=\"...\"" | null,
//                   "resource": "..." | null}, ...]}
// in the order the requests were sent. `resource` is the `resource` parameter of a
// form-encoded request body (that is, the token request), null for every other request.
// Redirects are listed hop by hop (the SDK follows them itself, within one origin only).
// Errors (bad arguments, a failed discovery or token request, a failed call, a tool result
// with `isError`) go to stderr with the SDK's message and the exchanges so far, exit status 1.
//
// Modules: it runs from target/idp-node (next to the node_modules that .ci/idp-env.sh
// installs) or from tests/idp, where it finds them in ../../target/idp-node. Needs Node.js 20
// or newer (for the global fetch).

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const exchanges = [];

const fail = (message) => {
  process.stderr.write(`mcp-client: ${message}\n`);
  if (exchanges.length > 0) {
    process.stderr.write(`mcp-client: exchanges so far: ${JSON.stringify(exchanges)}\n`);
  }
  process.exit(1);
};

const USAGE = 'usage: node mcp-client.mjs --url URL --issuer URL [--tool whoami] [--scope read] '
  + '[--client-id ID] [--client-secret SECRET]';

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      url: { type: 'string' },
      issuer: { type: 'string' },
      tool: { type: 'string', default: 'whoami' },
      scope: { type: 'string' },
      'client-id': { type: 'string', default: 'test-client' },
      'client-secret': { type: 'string', default: 'test-secret' },
    },
    strict: true,
  }));
} catch (error) {
  fail(`${error.message}\n${USAGE}`);
}
for (const required of ['url', 'issuer']) {
  if (!options[required]) fail(`--${required} is required\n${USAGE}`);
}
let serverUrl;
try {
  serverUrl = new URL(options.url);
  new URL(options.issuer);
} catch (error) {
  fail(`bad URL: ${error.message}`);
}

// The SDK's ES modules: beside this script, or where .ci/idp-env.sh installs them. The
// subpath is looked up in the package's own `exports` map (its "import" condition), since a
// bare specifier would only resolve from this script's own directory.
const SDK = '@modelcontextprotocol/sdk';
const importSdk = async (subpath) => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const base of [here, join(here, '..', '..', 'target', 'idp-node')]) {
    const dir = join(base, 'node_modules', ...SDK.split('/'));
    let exports;
    try {
      ({ exports } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
    } catch {
      continue;
    }
    const target = exports?.[`./${subpath}`]?.import ?? exports?.['./*']?.import?.replace('*', subpath);
    if (!target) fail(`${SDK} exports no ${subpath}`);
    return import(pathToFileURL(join(dir, target)).href);
  }
  return fail(`cannot find the module ${SDK}: run .ci/idp-env.sh first`);
};
const { Client } = await importSdk('client/index.js');
const { StreamableHTTPClientTransport } = await importSdk('client/streamableHttp.js');
const { ClientCredentialsProvider } = await importSdk('client/auth-extensions.js');

// The `resource` parameter of a form-encoded body (the token request), else null.
const formResource = (init) => {
  const body = init?.body;
  if (body instanceof URLSearchParams) return body.get('resource');
  if (typeof body === 'string') {
    const type = new Headers(init.headers).get('content-type') ?? '';
    if (type.startsWith('application/x-www-form-urlencoded')) {
      return new URLSearchParams(body).get('resource');
    }
  }
  return null;
};

// Records every exchange the SDK makes (MCP requests, discovery, the token request).
const recordingFetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
  const resource = formResource(init);
  const response = await fetch(input, init);
  exchanges.push({
    method,
    url,
    status: response.status,
    www_authenticate: response.headers.get('www-authenticate'),
    resource,
  });
  return response;
};

// The SDK's error message, with its cause (e.g. the network error behind "fetch failed").
const describe = (error) => {
  if (!(error instanceof Error)) return String(error);
  const { cause } = error;
  const detail = cause instanceof Error ? `${cause.code ?? ''} ${cause.message}`.trim() : undefined;
  return `${error.name}: ${error.message}${detail ? ` (${detail})` : ''}`;
};

const authProvider = new ClientCredentialsProvider({
  clientId: options['client-id'],
  clientSecret: options['client-secret'],
  expectedIssuer: options.issuer,
  ...(options.scope === undefined ? {} : { scope: options.scope }),
});
const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider, fetch: recordingFetch });
const client = new Client({ name: 'tower-jwt-auth-mcp-client', version: '0.0.0' });

let tools;
let result;
let step = `connecting to ${serverUrl.href}`;
try {
  await client.connect(transport);
  step = 'listing the tools';
  tools = (await client.listTools()).tools.map((tool) => tool.name);
  step = `calling the tool ${options.tool}`;
  const called = await client.callTool({ name: options.tool, arguments: {} });
  result = (called.content ?? [])
    .filter((item) => item.type === 'text')
    .map((item) => item.text)
    .join('\n');
  if (called.isError) throw new Error(`the tool returned an error: ${result}`);
} catch (error) {
  await client.close().catch(() => {});
  fail(`${step}: ${describe(error)}`);
}
await client.close().catch(() => {});

process.stdout.write(`${JSON.stringify({ tools, result, exchanges })}\n`, () => process.exit(0));
