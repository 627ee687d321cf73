// A real TypeScript SDK client, signed in through Portcullis's OAuth by the headless person of
// oauth_user.mjs, meets Portcullis's authorization (authz_clients.sh). One line per case,
// `ok LABEL: CASE` or `FAIL LABEL: CASE: why`; exit status 1 when any case failed. Lines starting
// with `#` are notes (what the SDK did by itself), not cases.
//
//   PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p node ts-authz-client.mjs --sdk v1|v2 \
//     --case filter --direct http://127.0.0.1:U/mcp --allowed 'echo,toggle-*' --forbidden get-sum URL
//   PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p node ts-authz-client.mjs --sdk v1|v2 \
//     --case step-up --narrow files:read --broad 'files:read files:write' URL
//
// filter: the person's roles on this MCP server allow listing tools and calling those of
// --allowed (names, `*` as in permission patterns). tools/list must be exactly the tools of the
// server itself (listed directly at --direct, no Portcullis) that --allowed names; a permitted
// tool is called; calling --forbidden fails with the SDK's error for an unknown tool (-32602
// `Unknown tool: NAME`), the same as for a tool that does not exist. (The suite checks that the
// forbidden call never reached the server.)
//
// step-up: the person may call every tool, but this MCP server maps scopes to permissions: the
// token of --narrow allows tools/list and echo, and a call of get-sum needs --broad. The client
// signs in asking for --narrow only (least privilege, as a client app does when it knows what it
// needs first), lists and calls echo, then calls get-sum: Portcullis answers 403
// insufficient_scope naming --broad, the client re-authorizes with that scope, the person allows
// it on the consent page again, and the call succeeds.
//   - v2 (@modelcontextprotocol/client) steps up by itself (SEP-2350: it asks for the union of
//     the scopes it held and those of the challenge, and skips the refresh, which cannot widen a
//     grant); the redirect ends the call with UnauthorizedError, and the app finishes the
//     authorization with the callback and calls again, as after any redirect.
//   - v1 (@modelcontextprotocol/sdk) answers the 403 by refreshing its token (which cannot widen
//     the grant), gets the same 403 and gives up ("Server returned 403 after trying upscoping",
//     typescript-sdk issue #2255). The app then does what the SDK's documentation leaves to it:
//     it drops the token, runs auth() with the challenge's scope, finishes with the callback and
//     calls again. Should the SDK step up by itself one day, the v2 path is taken instead.
import { parseArgs } from 'node:util';

import { Cases, assert, describe, textOf } from './cases.mjs';
import { HeadlessClientProvider } from './oauth_user.mjs';

const { values, positionals } = parseArgs({
  options: {
    sdk: { type: 'string', default: 'v2' },
    case: { type: 'string' },
    direct: { type: 'string' },
    allowed: { type: 'string', default: 'echo' },
    forbidden: { type: 'string', default: 'get-sum' },
    narrow: { type: 'string', default: 'files:read' },
    broad: { type: 'string', default: 'files:read files:write' },
  },
  allowPositionals: true,
});
const [url] = positionals;
if (!url || !['v1', 'v2'].includes(values.sdk) || !['filter', 'step-up'].includes(values.case) || (values.case === 'filter' && !values.direct)) {
  console.error('usage: node ts-authz-client.mjs --sdk v1|v2 --case filter --direct URL [--allowed LIST] [--forbidden TOOL] URL');
  console.error('       node ts-authz-client.mjs --sdk v1|v2 --case step-up [--narrow SCOPES] [--broad SCOPES] URL');
  process.exit(2);
}
const sdk = values.sdk;
const label = `ts-${sdk}-${values.case}`;
const serverUrl = new URL(url);
const issuer = serverUrl.origin;
const timeout = 15_000;
const person = { username: process.env.PEERS_OAUTH_USERNAME, password: process.env.PEERS_OAUTH_PASSWORD };
const cases = new Cases(label);
const note = (text) => console.log(`# ${label}: ${text}`);

let Client, Transport, UnauthorizedError, auth, extractWWWAuthenticateParams;
if (sdk === 'v1') {
  ({ Client } = await import('@modelcontextprotocol/sdk/client/index.js'));
  ({ StreamableHTTPClientTransport: Transport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js'));
  ({ UnauthorizedError, auth, extractWWWAuthenticateParams } = await import('@modelcontextprotocol/sdk/client/auth.js'));
} else {
  ({ Client, StreamableHTTPClientTransport: Transport, UnauthorizedError, auth, extractWWWAuthenticateParams } = await import('@modelcontextprotocol/client'));
}

const provider = new HeadlessClientProvider({ label, signIn: person });

/// Every 401 and 403 the MCP server answered, with its challenge: the transport's own fetch.
const challenges = [];
async function recordingFetch(input, init) {
  const response = await fetch(input, init);
  if ((response.status === 401 || response.status === 403) && String(input instanceof Request ? input.url : input) === serverUrl.href) {
    challenges.push({ status: response.status, header: response.headers.get('www-authenticate'), ...extractWWWAuthenticateParams(response) });
  }
  return response;
}

/// The callback the person's browser brought back, checked as a client's callback handler does.
function takeCallback() {
  const callback = provider.takeCallback();
  assert(callback, 'the person was not sent to authorize');
  const params = callback.searchParams;
  if (params.has('error')) throw new Error(`the authorization ended with ${params.get('error')}: ${params.get('error_description')}`);
  assert(provider.sentStates.includes(params.get('state')), `state ${params.get('state')} is not one this client sent`);
  // v1 knows nothing of RFC 9207; a careful client checks iss itself (v2 checks it).
  if (sdk === 'v1') assert(params.get('iss') === issuer, `iss was ${params.get('iss')}, the issuer is ${issuer}`);
  return params;
}

/// Hands the redirect back to the SDK through the transport that was redirected.
async function finishAuth(transport) {
  const params = takeCallback();
  if (sdk === 'v1') await transport.finishAuth(params.get('code'));
  else await transport.finishAuth(params);
}

function newTransport() {
  return new Transport(serverUrl, { authProvider: provider, fetch: recordingFetch });
}

/// Connects; the first attempt may meet the 401 and run the authorization.
async function connect(target = serverUrl) {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const transport = target === serverUrl ? newTransport() : new Transport(target);
    const client = new Client({ name: `portcullis-peers-${label}`, version: '0.0.0' });
    try {
      await client.connect(transport, { timeout });
      return { client, transport };
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || !provider.callback) throw err;
      await finishAuth(transport);
    }
  }
  throw new Error('still unauthorized after signing in twice');
}

function callTool(client, params) {
  return sdk === 'v1' ? client.callTool(params, undefined, { timeout }) : client.callTool(params, { timeout });
}

/// The claims of a JWT access token (no signature check: the suites that sign in check that).
function claimsOf(token) {
  const parts = token.split('.');
  assert(parts.length === 3, 'the access token is not a JWS compact serialization');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/// Whether two scope strings name the same scopes of the MCP server. `offline_access` (v2 adds
/// it when the authorization server offers it and the client may refresh) is no scope of the
/// server and is left out.
const serverScopes = (s) => [...new Set((s ?? '').split(/\s+/).filter((t) => t && t !== 'offline_access'))].sort().join(' ');
const sameScopes = (a, b) => serverScopes(a) === serverScopes(b);

/// The error a call ends with, or a failure when it succeeds.
async function errorOf(promise) {
  try {
    const result = await promise;
    throw new Error(`the call succeeded: ${JSON.stringify(result).slice(0, 300)}`, { cause: 'succeeded' });
  } catch (err) {
    if (err?.cause === 'succeeded') throw err;
    return err;
  }
}

async function filterCases() {
  let client;
  let direct;
  const allowed = values.allowed.split(',').map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  await cases.step('sign in, Allow, connect', async () => {
    ({ client } = await connect());
    assert(provider.authorizations.length === 1, `signed in ${provider.authorizations.length} times`);
    ({ client: direct } = await connect(new URL(values.direct)));
  });
  let expected;
  await cases.check('tools/list is exactly the permitted tools of the server', async () => {
    const all = (await direct.listTools(undefined, { timeout })).tools.map((t) => t.name).sort();
    expected = all.filter((name) => allowed.some((re) => re.test(name)));
    assert(all.includes(values.forbidden), `the server itself lists no ${values.forbidden}: ${JSON.stringify(all)}`);
    assert(expected.length > 0 && expected.length < all.length, `--allowed ${values.allowed} names ${expected.length} of ${all.length} tools`);
    const { tools } = await client.listTools(undefined, { timeout });
    const names = tools.map((t) => t.name).sort();
    assert(JSON.stringify(names) === JSON.stringify(expected), `listed ${JSON.stringify(names)}, expected ${JSON.stringify(expected)} of ${JSON.stringify(all)}`);
    const echo = tools.find((t) => t.name === 'echo');
    assert(!echo || echo.inputSchema?.properties?.message, `echo lost its input schema: ${JSON.stringify(echo?.inputSchema)}`);
  });
  await cases.check('tools/call echo (permitted)', async () => {
    const message = `hello from ${label} ✓`;
    const result = await callTool(client, { name: 'echo', arguments: { message } });
    assert(!result.isError && textOf(result) === `Echo: ${message}`, `got ${JSON.stringify(result)}`);
  });
  await cases.check(`tools/call ${values.forbidden} (forbidden) fails with the SDK's error for an unknown tool`, async () => {
    const refused = await errorOf(callTool(client, { name: values.forbidden, arguments: { a: 2, b: 40 } }));
    assert(refused.code === -32602, `the SDK's error is ${describe(refused)} (code ${refused.code}), not -32602`);
    assert(refused.message.includes(`Unknown tool: ${values.forbidden}`), `the SDK's error says ${JSON.stringify(refused.message)}`);
    // Portcullis answers as MCP's specification shows for an unknown tool; server-everything (the
    // SDK's McpServer) answers a missing tool with an isError result instead. Noted, not counted.
    const missing = `no-such-tool-${process.pid}`;
    const own = await callTool(direct, { name: missing, arguments: {} }).then((r) => `an isError=${r.isError} result: ${textOf(r)}`, (e) => `${e.constructor.name} ${e.code}: ${e.message}`);
    note(`server-everything itself answers a missing tool with ${own}; Portcullis answered ${refused.constructor.name} ${refused.code}: ${refused.message}`);
  });
  await cases.check('a forbidden tool and a tool that does not exist get the same error', async () => {
    const missing = `no-such-tool-${process.pid}`;
    const forbidden = await errorOf(callTool(client, { name: values.forbidden, arguments: {} }));
    const absent = await errorOf(callTool(client, { name: missing, arguments: {} }));
    assert(forbidden.constructor === absent.constructor && forbidden.code === absent.code, `${describe(forbidden)} vs ${describe(absent)}`);
    assert(forbidden.message.replace(values.forbidden, 'NAME') === absent.message.replace(missing, 'NAME'), `${JSON.stringify(forbidden.message)} vs ${JSON.stringify(absent.message)}`);
  });
  await cases.check('the session still works after the refusal', async () => {
    const result = await callTool(client, { name: 'echo', arguments: { message: 'still here' } });
    assert(textOf(result) === 'Echo: still here', `got ${JSON.stringify(result)}`);
  });
  await cases.check('close', async () => {
    await client.close();
    await direct.close();
  });
}

async function stepUpCases() {
  let client;
  let transport;
  await cases.step(`sign in asking for ${values.narrow} only, Allow`, async () => {
    const first = await auth(provider, { serverUrl, scope: values.narrow, fetchFn: recordingFetch });
    assert(first === 'REDIRECT', `auth() answered ${first} with no token`);
    const params = takeCallback();
    const done = await auth(provider, {
      serverUrl,
      scope: values.narrow,
      authorizationCode: params.get('code'),
      ...(sdk === 'v2' ? { iss: params.get('iss') } : {}),
      fetchFn: recordingFetch,
    });
    assert(done === 'AUTHORIZED', `the code exchange answered ${done}`);
    const [authorization] = provider.authorizations;
    const q = authorization.request.searchParams;
    assert(sameScopes(q.get('scope'), values.narrow), `the authorization request asked for scope ${JSON.stringify(q.get('scope'))}`);
    assert(q.get('resource') === serverUrl.href, `resource=${q.get('resource')}`);
    assert(authorization.consent && sameScopes(authorization.consent.scopes.join(' '), values.narrow), `the consent page listed ${JSON.stringify(authorization.consent?.scopes)}`);
  });
  await cases.check(`the token has ${values.narrow}`, async () => {
    const tokens = provider.tokens();
    assert(sameScopes(tokens.scope ?? '', values.narrow), `the token response says scope ${JSON.stringify(tokens.scope)}`);
    const claims = claimsOf(tokens.access_token);
    assert(sameScopes(claims.scope ?? '', values.narrow), `the access token's scope claim is ${JSON.stringify(claims.scope)}`);
    assert(tokens.refresh_token, 'no refresh token (the step-up must not depend on having none)');
  });
  await cases.step('connect with that token', async () => {
    ({ client, transport } = await connect());
    assert(provider.authorizations.length === 1, `signed in ${provider.authorizations.length} times`);
  });
  await cases.check('tools/list shows echo and get-sum (a tool a step-up allows is listed)', async () => {
    const names = (await client.listTools(undefined, { timeout })).tools.map((t) => t.name);
    assert(names.includes('echo') && names.includes('get-sum'), `listed ${JSON.stringify(names)}`);
  });
  await cases.check(`tools/call echo with ${values.narrow}`, async () => {
    const result = await callTool(client, { name: 'echo', arguments: { message: 'narrow' } });
    assert(textOf(result) === 'Echo: narrow', `got ${JSON.stringify(result)}`);
  });
  const before = challenges.length;
  await cases.step(`tools/call get-sum: 403 insufficient_scope, re-authorization for ${values.broad}, Allow, the call succeeds`, async () => {
    const call = () => callTool(client, { name: 'get-sum', arguments: { a: 2, b: 40 } });
    let result;
    try {
      result = await call();
    } catch (err) {
      if (err instanceof UnauthorizedError && provider.callback) {
        note(`the SDK re-authorized by itself on the 403 (scope ${JSON.stringify(provider.authorizations.at(-1).request.searchParams.get('scope'))}); the app finishes with the callback and calls again`);
      } else if (sdk === 'v1' && /403 after trying upscoping/.test(err?.message ?? '')) {
        note(`the SDK answered the 403 by refreshing its token and gave up (${describe(err)}); the app re-authorizes with the challenge's scope`);
        const challenge = challenges.slice(before).findLast((c) => c.status === 403);
        assert(challenge?.scope, 'no 403 challenge with a scope was seen');
        provider.invalidateCredentials('tokens');
        const started = await auth(provider, { serverUrl, scope: challenge.scope, resourceMetadataUrl: challenge.resourceMetadataUrl, fetchFn: recordingFetch });
        assert(started === 'REDIRECT', `auth() answered ${started}`);
      } else {
        throw err;
      }
      await finishAuth(transport);
      result = await call();
    }
    assert(!result.isError && /\b42\b/.test(textOf(result)), `got ${JSON.stringify(result)}`);
    assert(provider.authorizations.length === 2, `signed in ${provider.authorizations.length} times, expected twice`);
  });
  await cases.check('the 403 challenge: insufficient_scope, every scope to hold, the resource metadata', async () => {
    const seen = challenges.slice(before).filter((c) => c.status === 403);
    assert(seen.length >= 1, `no 403 was seen (${JSON.stringify(challenges.slice(before))})`);
    const prm = `${issuer}/.well-known/oauth-protected-resource${serverUrl.pathname}`;
    for (const c of seen) {
      assert(c.error === 'insufficient_scope', `error ${JSON.stringify(c.error)} in ${c.header}`);
      assert(c.scope === values.broad, `scope ${JSON.stringify(c.scope)} in ${c.header}`);
      assert(String(c.resourceMetadataUrl) === prm, `resource_metadata ${c.resourceMetadataUrl} in ${c.header}`);
    }
  });
  await cases.check(`the second authorization asked for ${values.broad}; the consent page listed it`, async () => {
    const second = provider.authorizations[1];
    const q = second.request.searchParams;
    assert(sameScopes(q.get('scope') ?? '', values.broad), `scope ${JSON.stringify(q.get('scope'))}`);
    assert(q.get('resource') === serverUrl.href, `resource=${q.get('resource')}`);
    assert(second.consent, 'no consent page was shown the second time');
    assert(sameScopes(second.consent.scopes.join(' '), values.broad), `the consent page listed ${JSON.stringify(second.consent.scopes)}`);
  });
  await cases.check(`the new token has ${values.broad}`, async () => {
    const tokens = provider.tokens();
    assert(sameScopes(tokens.scope ?? '', values.broad), `the token response says scope ${JSON.stringify(tokens.scope)}`);
    assert(sameScopes(claimsOf(tokens.access_token).scope ?? '', values.broad), 'the access token has other scopes');
  });
  await cases.check('echo and get-sum both work with it, on the same session', async () => {
    const echo = await callTool(client, { name: 'echo', arguments: { message: 'broad' } });
    assert(textOf(echo) === 'Echo: broad', `echo: ${JSON.stringify(echo)}`);
    const sum = await callTool(client, { name: 'get-sum', arguments: { a: 1, b: 1 } });
    assert(/\b2\b/.test(textOf(sum)), `get-sum: ${JSON.stringify(sum)}`);
    assert(provider.authorizations.length === 2, 'the person was asked again');
  });
  await cases.check('close', async () => {
    await client.close();
  });
}

if (values.case === 'filter') await filterCases();
else await stepUpCases();
cases.exit();
