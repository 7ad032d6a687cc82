// Writes the test-only private JWKS files the test provider (provider.mjs) signs with.
// Generated once and committed; rerun only to replace them (the kids stay the same, so
// nothing else needs to change):
//
//   node tests/idp/genkeys.mjs tests/idp
//
// keys-a.json   rs-a (RS256), ps-a (PS256), es-a (ES256, P-256), ed-a (EdDSA, Ed25519)
// keys-b.json   rs-b, ps-b, es-b, ed-b: the same algorithms, new keys
// keys-ab.json  the b keys, then rs-a: after a rotation the old kid stays published while
//               the new keys sign (the provider signs with the first key of an alg)
//
// RSA keys are 2048 bits. Node's crypto only; no packages needed.

import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node genkeys.mjs <output dir>\n');
  process.exit(2);
}

function jwk(kind, kid, alg) {
  const options = kind === 'rsa' ? { modulusLength: 2048 } : kind === 'ec' ? { namedCurve: 'P-256' } : {};
  const { privateKey } = generateKeyPairSync(kind, options);
  return { kid, alg, use: 'sig', ...privateKey.export({ format: 'jwk' }) };
}

function set(suffix) {
  return [
    jwk('rsa', `rs-${suffix}`, 'RS256'),
    jwk('rsa', `ps-${suffix}`, 'PS256'),
    jwk('ec', `es-${suffix}`, 'ES256'),
    jwk('ed25519', `ed-${suffix}`, 'EdDSA'),
  ];
}

const write = (name, keys) => {
  writeFileSync(join(dir, name), `${JSON.stringify({ keys }, null, 2)}\n`);
  process.stderr.write(`wrote ${join(dir, name)}: ${keys.map((key) => key.kid).join(', ')}\n`);
};

const a = set('a');
const b = set('b');
write('keys-a.json', a);
write('keys-b.json', b);
write('keys-ab.json', [...b, a[0]]);
