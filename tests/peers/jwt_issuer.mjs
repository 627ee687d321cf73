// Portcullis against a real JWT issuer on loopback (npm oauth2-mock-server: OIDC discovery, JWKS,
// RS256/PS256/ES256/EdDSA keys). Portcullis validates the issuer's tokens with a `jwt` validator
// found by discovery; a valid token reaches the upstream as identity headers, never as itself,
// and every attack of reference §2.12 (JWT and JWKS) and §2.14 (MCP transport) gets its refusal
// with the upstream never called. Prints `ok NAME` / `FAIL NAME: why` per check and a tally.
//
//   node jwt_issuer.mjs --portcullis BIN --out DIR
//
// Everything listens on 127.0.0.1; every process this starts is stopped on exit.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';
import { OAuth2Server } from 'oauth2-mock-server';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const bin = args.portcullis;
const out = path.resolve(args.out ?? '.peers/results/jwt-issuer');
if (!bin) {
  console.error('usage: node jwt_issuer.mjs --portcullis BIN --out DIR');
  process.exit(2);
}
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'state'), { recursive: true });

const children = [];
function stopAll() {
  for (const child of children.reverse()) {
    try {
      child.kill('SIGTERM');
    } catch {}
  }
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function start(name, command, argv, env = {}) {
  const log = fs.openSync(path.join(out, `${name}.log`), 'w');
  const child = spawn(command, argv, { stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

async function waitFor(url, expect = null, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (expect === null || response.status === expect) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${seconds}s`);
}

// --- the issuers -------------------------------------------------------------------------------

const issuerServer = new OAuth2Server();
for (const [alg, kid, opts] of [
  ['RS256', 'rs', {}],
  ['PS256', 'ps', {}],
  ['ES256', 'es', {}],
  ['EdDSA', 'ed', { crv: 'Ed25519' }],
]) {
  await issuerServer.issuer.keys.generate(alg, { kid, ...opts });
}
await issuerServer.start(await freePort(), '127.0.0.1');
const ISSUER = issuerServer.issuer.url;

// A second, unrelated issuer whose key even reuses the kid `rs`.
const foreignServer = new OAuth2Server();
await foreignServer.issuer.keys.generate('RS256', { kid: 'rs' });
await foreignServer.start(await freePort(), '127.0.0.1');

const privateJwks = issuerServer.issuer.keys.toJSON(true);
const { alg: _rsAlg, ...rsPrivateJwk } = privateJwks.find((k) => k.kid === 'rs');
const rsPrivate = await jose.importJWK(rsPrivateJwk, 'PS256');
const rsPublicJwk = issuerServer.issuer.keys.toJSON(false).find((k) => k.kid === 'rs');
const rsPublicPem = crypto.createPublicKey({ key: rsPublicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
const foreignRs = await jose.importJWK(foreignServer.issuer.keys.toJSON(true)[0], 'RS256');

// --- Portcullis and the upstream ----------------------------------------------------------------

const upstreamPort = await freePort();
const port = await freePort();
const BASE = `http://127.0.0.1:${port}`;
const FILES = `${BASE}/servers/files/mcp`;
const OTHER = `${BASE}/servers/other/mcp`;
const upstreamLog = path.join(out, 'upstream-requests.jsonl');
fs.writeFileSync(upstreamLog, '');

const config = path.join(out, 'portcullis.toml');
fs.writeFileSync(
  config,
  `version = 1

[server]
listen = "127.0.0.1:${port}"
public_url = "${BASE}"

[store]
url = "sqlite://${out}/state/portcullis.db"

[tenants]
by_email_domain = { "acme.test" = "acme" }

[[validators]]
id = "corp"
kind = "jwt"
issuer = "${ISSUER}"
allow_private_network = true

[[upstreams]]
name = "files"
url = "http://127.0.0.1:${upstreamPort}/mcp"
accept = ["corp"]
scopes = ["files:read"]
authenticated_roles = ["developer"]

[[upstreams]]
name = "other"
url = "http://127.0.0.1:${upstreamPort}/mcp"
accept = ["corp"]
authenticated_roles = ["developer"]
`,
);
start('upstream', 'python3', [path.join(here, 'header_upstream.py'), String(upstreamPort), upstreamLog]);
start('portcullis', bin, ['serve', '--config', config], { RUST_LOG: process.env.RUST_LOG ?? 'info' });
await waitFor(`http://127.0.0.1:${upstreamPort}/mcp`);
await waitFor(`${BASE}/readyz`, 200);

// --- helpers ------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
function check(name, condition, why = '') {
  if (condition) {
    passed++;
    console.log(`ok ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}: ${why}`);
  }
}

const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'jwt-issuer-check', version: '0' } },
};
const LIST = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

async function post(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

function upstreamRequests() {
  return fs
    .readFileSync(upstreamLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const now = () => Math.floor(Date.now() / 1000);

/** A token from the issuer: its keys, its `iss`; `transform` edits header and payload. */
function token({ kid = 'es', aud = FILES, sub = 'user-1', transform = () => {}, expiresIn = 300 } = {}) {
  return issuerServer.issuer.buildToken({
    kid,
    expiresIn,
    scopesOrTransform: (header, payload) => {
      payload.sub = sub;
      payload.aud = aud;
      payload.email = `${sub}@acme.test`;
      payload.email_verified = true;
      payload.scope = 'files:read';
      transform(header, payload);
    },
  });
}

function b64(value) {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** Signs header and payload by hand with the issuer's own RS256 key: a token only the header or
 * claims can make wrong. */
function signWithIssuerKey(header, payload) {
  const key = crypto.createPrivateKey({ key: privateJwks.find((k) => k.kid === 'rs'), format: 'jwk' });
  const input = `${b64({ alg: 'RS256', kid: 'rs', ...header })}.${b64(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function claims(extra = {}) {
  return { iss: ISSUER, sub: 'attacker', aud: FILES, iat: now(), exp: now() + 300, ...extra };
}

// --- valid tokens -------------------------------------------------------------------------------

for (const kid of ['rs', 'ps', 'es', 'ed']) {
  const response = await post(FILES, INIT, { authorization: `Bearer ${await token({ kid })}` });
  check(`a valid ${kid} token initializes`, response.status === 200, `status ${response.status}: ${response.text}`);
}

{
  const bearer = `Bearer ${await token({ sub: 'alice' })}`;
  const init = await post(FILES, INIT, { authorization: bearer, 'x-portcullis-user': 'admin', 'X-Portcullis-Tenant': 'evil' });
  const session = init.headers.get('mcp-session-id');
  const list = await post(FILES, LIST, { authorization: bearer, 'mcp-session-id': session ?? '' });
  check('a valid token reaches the upstream', list.status === 200, `status ${list.status}: ${list.text}`);
  const seen = JSON.parse(list.text).result?.headers ?? {};
  check('the upstream sees the verified subject', seen['x-portcullis-user'] === 'corp:alice', JSON.stringify(seen));
  check('the upstream sees the verified email and tenant', seen['x-portcullis-email'] === 'alice@acme.test' && seen['x-portcullis-tenant'] === 'acme', JSON.stringify(seen));
  check('the upstream sees the scopes', seen['x-portcullis-scopes'] === 'files:read', JSON.stringify(seen));
  check("the upstream never sees the client's token", !JSON.stringify(upstreamRequests()).includes(bearer.slice(7)) && !('authorization' in seen), JSON.stringify(seen));

  // §2.14: a session belongs to its principal.
  const bob = `Bearer ${await token({ sub: 'bob' })}`;
  const before = upstreamRequests().length;
  const hijack = await post(FILES, LIST, { authorization: bob, 'mcp-session-id': session ?? '' });
  check("another principal's token with alice's session is 404", hijack.status === 404, `status ${hijack.status}`);
  const bare = await post(FILES, LIST, { 'mcp-session-id': session ?? '' });
  check("alice's session without a token is 401", bare.status === 401, `status ${bare.status}`);
  const foreignOrigin = await post(FILES, LIST, { authorization: bearer, 'mcp-session-id': session ?? '', origin: 'https://evil.example' });
  check('a foreign Origin is 403 even with a valid token', foreignOrigin.status === 403, `status ${foreignOrigin.status}`);
  check('none of these reached the upstream', upstreamRequests().length === before, `${upstreamRequests().length - before} requests`);
}

// --- attacks: each must be 401 with a challenge, and never reach the upstream ----------------------

const attacks = [
  ['a token for another upstream (audience)', async () => token({ aud: OTHER })],
  ['aud missing', async () => token({ transform: (_, p) => delete p.aud })],
  ['aud = the issuer itself', async () => token({ aud: ISSUER })],
  ['aud array without this resource', async () => token({ aud: [OTHER, 'https://elsewhere.example/mcp'] })],
  ['expired beyond the leeway', async () => token({ transform: (_, p) => { p.exp = now() - 120; p.iat = now() - 600; p.nbf = now() - 600; } })],
  ['nbf in the future', async () => token({ transform: (_, p) => { p.nbf = now() + 600; } })],
  ['iat in the future', async () => token({ transform: (_, p) => { p.iat = now() + 600; p.nbf = now(); } })],
  ['exp as a string', async () => token({ transform: (_, p) => { p.exp = String(now() + 300); } })],
  ['iss of another issuer', async () => token({ transform: (_, p) => { p.iss = 'https://evil.example'; } })],
  ['sub missing', async () => token({ transform: (_, p) => delete p.sub })],
  ['unknown crit header', async () => signWithIssuerKey({ crit: ['urn:example:unknown'], 'urn:example:unknown': true }, claims())],
  ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT', kid: 'rs' })}.${b64(claims())}.`],
  ['alg none without a kid', async () => `${b64({ alg: 'none' })}.${b64(claims())}.`],
  ['HS256 signed with the RSA public key (key confusion)', async () => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'rs' })}.${b64(claims())}`;
    const sig = crypto.createHmac('sha256', rsPublicPem).update(input).digest('base64url');
    return `${input}.${sig}`;
  }],
  ['HS256 signed with the JWK modulus (key confusion)', async () => {
    const input = `${b64({ alg: 'HS256', kid: 'rs' })}.${b64(claims())}`;
    const sig = crypto.createHmac('sha256', rsPublicJwk.n).update(input).digest('base64url');
    return `${input}.${sig}`;
  }],
  ['PS256 header on the RS256 key (algorithm from the header)', async () =>
    new jose.SignJWT(claims()).setProtectedHeader({ alg: 'PS256', kid: 'rs' }).sign(rsPrivate)],
  ['an unknown kid', async () => {
    const input = `${b64({ alg: 'RS256', kid: 'nope' })}.${b64(claims())}`;
    return `${input}.${crypto.createSign('RSA-SHA256').update(input).sign(crypto.createPrivateKey({ key: foreignServer.issuer.keys.toJSON(true)[0], format: 'jwk' }), 'base64url')}`;
  }],
  ['signed by a foreign key with our kid and iss', async () =>
    new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rs' }).sign(foreignRs)],
  ['an embedded jwk header with the attacker key', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
    const jwk = await jose.exportJWK(publicKey);
    return new jose.SignJWT(claims()).setProtectedHeader({ alg: 'ES256', kid: 'es', jwk }).sign(privateKey);
  }],
  ['a jku header pointing at the attacker keys', async () =>
    new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rs', jku: `${foreignServer.issuer.url}/jwks` }).sign(foreignRs)],
  ['an x5u header pointing elsewhere', async () =>
    new jose.SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: 'rs', x5u: 'https://evil.example/cert.pem' }).sign(foreignRs)],
  ['a token of the other issuer', async () =>
    foreignServer.issuer.buildToken({ scopesOrTransform: (_, p) => { p.aud = FILES; p.sub = 'x'; } })],
  ['a truncated token', async () => (await token()).slice(0, -10)],
  ['a token with four parts', async () => `${await token()}.e30`],
  ['garbage', async () => 'not.a.jwt'],
  ['a flipped signature byte', async () => {
    const t = await token();
    const last = t.at(-2) === 'A' ? 'B' : 'A';
    return `${t.slice(0, -2)}${last}${t.at(-1)}`;
  }],
];

{
  // The control for the hand-signed attacks: the same construction, nothing wrong with it.
  const response = await post(FILES, INIT, { authorization: `Bearer ${signWithIssuerKey({}, claims({ sub: 'hand-signed' }))}` });
  check('a hand-signed token with nothing wrong is accepted', response.status === 200, `status ${response.status}: ${response.text}`);
}

for (const [name, make] of attacks) {
  const before = upstreamRequests().length;
  let response;
  try {
    response = await post(FILES, INIT, { authorization: `Bearer ${await make()}` });
  } catch (error) {
    check(`refused: ${name}`, false, `could not build the token: ${error}`);
    continue;
  }
  const challenge = response.headers.get('www-authenticate') ?? '';
  check(
    `refused: ${name}`,
    response.status === 401 && challenge.includes('resource_metadata=') && upstreamRequests().length === before,
    `status ${response.status}, challenge ${JSON.stringify(challenge)}, upstream calls ${upstreamRequests().length - before}`,
  );
}

{
  const before = upstreamRequests().length;
  const response = await post(`${FILES}?access_token=${await token()}`, INIT);
  check('refused: a valid token in the query string', response.status === 401 && upstreamRequests().length === before, `status ${response.status}`);
}

// --- discovery ----------------------------------------------------------------------------------

{
  const response = await fetch(`${BASE}/.well-known/oauth-protected-resource/servers/files/mcp`);
  const metadata = await response.json();
  check('the protected resource metadata lists the issuer',
    metadata.resource === FILES && metadata.authorization_servers.includes(ISSUER),
    JSON.stringify(metadata));
}

console.log(`${passed} passed, ${failed} failed`);
stopAll();
await issuerServer.stop();
await foreignServer.stop();
process.exit(failed === 0 ? 0 : 1);
