// A real TypeScript SDK client (v2, registering itself) signing in to an MCP server behind
// Portcullis whose person signs in through an identity provider: the 401, discovery,
// registration and PKCE are the SDK's; the person (oauth_user.mjs) clicks "Sign in with NAME" on
// Portcullis's sign-in page, signs in at the provider, comes back through /auth/callback/{id} and
// clicks Allow. Then the client calls the upstream's `headers` tool (header_upstream.py), which
// answers the headers it got: the provider's access token must be there, and the client's own
// Portcullis token nowhere. One line per case, `ok LABEL: CASE` or `FAIL LABEL: CASE: why`;
// exit status 1 when any case failed.
//
//   PEERS_PROVIDER_PASSWORD=… node federation-client.mjs --label L --provider NAME --id ID \
//     --login LOGIN --whoami URL --whoami-field FIELD --whoami-value VALUE \
//     [--token-header HEADER] [--callback-iss ISSUER] [--refresh-wait SECONDS] URL
//   PEERS_PROVIDER_PASSWORD=… node federation-client.mjs --label L --provider NAME --id ID \
//     --login LOGIN --refused STATUS --refused-text TEXT URL
//
// --whoami: a URL of the provider that answers who an access token belongs to (userinfo,
// GitHub's /user); the token the upstream got must work there as the person. --callback-iss:
// the provider's RFC 9207 `iss` expected on its redirect back (without it, none is expected).
// --refresh-wait: wait that long (until the provider token is inside Portcullis's refresh margin
// and out of its cache) and call again: the upstream must get a refreshed provider token. --refused: the
// sign-in must end on a Portcullis page with that status saying TEXT, and the client get no token.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';

import { Cases, assert, textOf } from './cases.mjs';
import { HeadlessClientProvider, RefusedError } from './oauth_user.mjs';

const { values, positionals } = parseArgs({
  options: {
    label: { type: 'string' },
    provider: { type: 'string' },
    id: { type: 'string' },
    login: { type: 'string' },
    whoami: { type: 'string' },
    'whoami-field': { type: 'string' },
    'whoami-value': { type: 'string' },
    'token-header': { type: 'string', default: 'authorization' },
    'callback-iss': { type: 'string' },
    'refresh-wait': { type: 'string' },
    refused: { type: 'string' },
    'refused-text': { type: 'string' },
  },
  allowPositionals: true,
});
const [url] = positionals;
if (!url || !values.label || !values.provider || !values.id || !values.login || !(values.whoami || values.refused)) {
  console.error('usage: see the header of federation-client.mjs');
  process.exit(2);
}
const label = values.label;
const serverUrl = new URL(url);
const issuer = serverUrl.origin;
const timeout = 15_000;
const person = { name: values.provider, login: values.login, password: process.env.PEERS_PROVIDER_PASSWORD ?? 'any' };
const tokenHeader = values['token-header'].toLowerCase();

const cases = new Cases(label);

const provider = new HeadlessClientProvider({ label, signIn: { provider: person } });
let client;

async function connect() {
  // The first connection meets the 401 and runs the authorization; the second carries the token.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
    const c = new Client({ name: `portcullis-peers-${label}`, version: '0.0.0' });
    try {
      await c.connect(transport, { timeout });
      return c;
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || !provider.callback) throw err;
      const params = provider.takeCallback().searchParams;
      if (params.has('error')) throw new Error(`the authorization ended with ${params.get('error')}: ${params.get('error_description')}`);
      assert(provider.sentStates.includes(params.get('state')), `state ${params.get('state')} is not one this client sent`);
      await transport.finishAuth(params);
    }
  }
  throw new Error('still unauthorized after signing in twice');
}

/// What the upstream got with one `tools/call headers`: the provider token, and every header.
async function upstreamSaw() {
  const result = await client.callTool({ name: 'headers', arguments: {} }, { timeout });
  assert(!result.isError, `the tool call failed: ${JSON.stringify(result)}`);
  const headers = JSON.parse(textOf(result));
  const raw = headers[tokenHeader];
  assert(raw, `the upstream got no ${tokenHeader} header; it got ${Object.keys(headers).join(', ')}`);
  const token = tokenHeader === 'authorization' ? /^Bearer (\S+)$/.exec(raw)?.[1] : raw;
  assert(token, `${tokenHeader} was ${JSON.stringify(raw.slice(0, 12))}…, not ${tokenHeader === 'authorization' ? 'Bearer <token>' : 'a bare token'}`);
  return { headers, token };
}

/// The provider says whose `token` is.
async function whoIs(token) {
  const response = await fetch(values.whoami, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': 'portcullis-peers' },
    signal: AbortSignal.timeout(timeout),
  });
  const body = await response.text();
  assert(response.status === 200, `${values.whoami} answered ${response.status} for the token the upstream got: ${body.slice(0, 200)}`);
  return JSON.parse(body)[values['whoami-field']];
}

if (values.refused) {
  const status = Number(values.refused);
  await cases.check(`signing in with ${values.provider} as ${values.login} is refused with ${status}`, async () => {
    try {
      client = await connect();
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      assert(err.status === status, `the page answered ${err.status}: ${err.text.slice(0, 300)}`);
      assert(err.text.includes(values['refused-text']), `the page does not say ${JSON.stringify(values['refused-text'])}: ${err.text.slice(0, 300)}`);
      return;
    }
    throw new Error('the client connected');
  });
  await cases.check('the client got no token', async () => {
    assert(!provider.tokens(), 'the client holds a token');
    assert(!provider.authorizations.length, 'the authorization reached the client');
  });
  cases.exit();
}

await cases.step(`sign in with ${values.provider} at the provider, Allow, connect`, async () => {
  client = await connect();
  assert(provider.authorizations.length === 1, `signed in ${provider.authorizations.length} times`);
});
const { callback } = provider.authorizations[0] ?? {};
await cases.check(`the provider sent the browser back to /auth/callback/${values.id} with a code and the state`, async () => {
  assert(callback, 'no callback was seen');
  const at = new URL(callback.url);
  assert(at.origin === issuer && at.pathname === `/auth/callback/${values.id}`, `the callback was ${at.origin}${at.pathname}`);
  assert(at.searchParams.get('code') && at.searchParams.get('state')?.length >= 43, 'the callback has no code or a short state');
  const iss = at.searchParams.get('iss');
  if (values['callback-iss']) assert(iss === values['callback-iss'], `iss was ${iss}, expected ${values['callback-iss']} (RFC 9207)`);
  else assert(iss === null, `iss ${iss} from a provider that sends none`);
});
await cases.check('the access token is a JWT of Portcullis for this MCP server alone', async () => {
  const tokens = provider.tokens();
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1], 'base64url').toString('utf8'));
  assert(claims.iss === issuer, `iss ${claims.iss}`);
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  assert(aud.length === 1 && aud[0] === serverUrl.href, `aud ${JSON.stringify(claims.aud)}`);
});
await cases.check('tools/list', async () => {
  const { tools } = await client.listTools(undefined, { timeout });
  assert(tools.some((t) => t.name === 'headers'), `tools: ${tools.map((t) => t.name).join(', ')}`);
});
let first;
await cases.step(`tools/call: the upstream gets a provider token in ${tokenHeader}, never the client's token`, async () => {
  first = await upstreamSaw();
  const own = provider.tokens().access_token;
  assert(first.token !== own, 'the upstream got the client\'s Portcullis token');
  for (const [name, value] of Object.entries(first.headers)) {
    assert(!value.includes(own), `the client's Portcullis token reached the upstream in ${name}`);
  }
  if (tokenHeader !== 'authorization') assert(!('authorization' in first.headers), 'an Authorization header reached the upstream');
  assert(/^portcullis:/.test(first.headers['x-portcullis-user'] ?? ''), `X-Portcullis-User was ${first.headers['x-portcullis-user']}`);
});
await cases.check(`the token the upstream got is ${values['whoami-value']}'s at the provider`, async () => {
  const who = await whoIs(first.token);
  assert(String(who) === values['whoami-value'], `${values.whoami} says ${values['whoami-field']} = ${who}`);
});
await cases.check('a second callback with the same state is refused (400), as from the same browser', async () => {
  // The provider's redirect is replayed with the cookies the browser sent the first time (its
  // binding cookie included): the state was taken by the first callback.
  const response = await fetch(callback.url, {
    headers: callback.cookie ? { cookie: callback.cookie } : {},
    redirect: 'manual',
    signal: AbortSignal.timeout(timeout),
  });
  const body = await response.text();
  assert(response.status === 400, `the replay answered ${response.status}: ${body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 200)}`);
  assert(/used already/.test(body), 'the page does not say the sign-in was used already');
  assert(!response.headers.getSetCookie().some((c) => /session/i.test(c.split('=')[0])), 'the replay set a session cookie');
});
if (values['refresh-wait']) {
  await cases.check('once the provider token is about to expire, the upstream gets a refreshed one', async () => {
    await sleep(Number(values['refresh-wait']) * 1000);
    const again = await upstreamSaw();
    assert(again.token !== first.token, 'the upstream got the same provider token again');
    const who = await whoIs(again.token);
    assert(String(who) === values['whoami-value'], `${values.whoami} says ${values['whoami-field']} = ${who}`);
  });
}
await cases.check('close', async () => {
  await client.close();
});

cases.exit();
