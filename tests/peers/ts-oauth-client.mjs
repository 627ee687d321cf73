// A real TypeScript SDK client signing in to an MCP server behind Portcullis's OAuth: the SDK's
// own OAuth machinery (discovery from the 401, client ID metadata document or dynamic
// registration, PKCE, resource, code exchange, refresh) with a headless person (oauth_user.mjs)
// at the consent page, then tools listed and called with the token. One line per case,
// `ok LABEL: CASE` or `FAIL LABEL: CASE: why`; exit status 1 when any case failed.
//
//   PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p \
//     node ts-oauth-client.mjs --sdk v1|v2 [--cimd https://…/clients/NAME.json] URL
//
// Without --cimd the client registers itself (RFC 7591). v2 (@modelcontextprotocol/client)
// checks the metadata issuer and the `iss` of the authorization response itself; v1
// (@modelcontextprotocol/sdk) does neither, so this script checks `iss` for it.
import { parseArgs } from 'node:util';

import { Cases, assert, everythingTools, textOf } from './cases.mjs';
import { HeadlessClientProvider } from './oauth_user.mjs';

const { values, positionals } = parseArgs({
  options: { sdk: { type: 'string', default: 'v2' }, cimd: { type: 'string' } },
  allowPositionals: true,
});
const [url] = positionals;
if (!url || !['v1', 'v2'].includes(values.sdk)) {
  console.error('usage: node ts-oauth-client.mjs --sdk v1|v2 [--cimd URL] URL');
  process.exit(2);
}
const sdk = values.sdk;
const label = `ts-${sdk}-${values.cimd ? 'cimd' : 'dcr'}`;
const serverUrl = new URL(url);
const issuer = serverUrl.origin;
const timeout = 15_000;
const person = { username: process.env.PEERS_OAUTH_USERNAME, password: process.env.PEERS_OAUTH_PASSWORD };

const cases = new Cases(label);
function jwtClaims(token) {
  const parts = token.split('.');
  assert(parts.length === 3, 'the access token is not a JWS compact serialization');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

const provider = new HeadlessClientProvider({ label, cimd: values.cimd, signIn: person });
let client;
let Client, Transport, UnauthorizedError;
if (sdk === 'v1') {
  ({ Client } = await import('@modelcontextprotocol/sdk/client/index.js'));
  ({ StreamableHTTPClientTransport: Transport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js'));
  ({ UnauthorizedError } = await import('@modelcontextprotocol/sdk/client/auth.js'));
} else {
  ({ Client, StreamableHTTPClientTransport: Transport, UnauthorizedError } = await import('@modelcontextprotocol/client'));
}

/// Hands the redirect back to the SDK, as a client's callback handler does.
async function finishAuth(transport) {
  const callback = provider.takeCallback();
  const params = callback.searchParams;
  if (params.has('error')) throw new Error(`the authorization ended with ${params.get('error')}: ${params.get('error_description')}`);
  assert(provider.sentStates.includes(params.get('state')), `state ${params.get('state')} is not one this client sent`);
  if (sdk === 'v1') {
    // v1 knows nothing of RFC 9207; a careful client checks iss itself.
    assert(params.get('iss') === issuer, `iss was ${params.get('iss')}, the issuer is ${issuer}`);
    await transport.finishAuth(params.get('code'));
  } else {
    await transport.finishAuth(params);
  }
}

async function connect() {
  // The first connection meets the 401 and runs the authorization; the second carries the token.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const transport = new Transport(serverUrl, { authProvider: provider });
    const c = new Client({ name: `portcullis-peers-${label}`, version: '0.0.0' });
    try {
      await c.connect(transport, { timeout });
      return c;
    } catch (err) {
      if (!(err instanceof UnauthorizedError) || !provider.callback) throw err;
      await finishAuth(transport);
    }
  }
  throw new Error('still unauthorized after signing in twice');
}

function callTool(params) {
  return sdk === 'v1' ? client.callTool(params, undefined, { timeout }) : client.callTool(params, { timeout });
}

await cases.step('sign in, Allow, connect', async () => {
  client = await connect();
  assert(provider.authorizations.length === 1, `signed in ${provider.authorizations.length} times`);
});
await cases.check('the authorization request had PKCE S256 and this MCP server as resource', async () => {
  const q = provider.authorizations[0].request.searchParams;
  assert(q.get('response_type') === 'code', `response_type=${q.get('response_type')}`);
  assert(q.get('code_challenge_method') === 'S256' && q.get('code_challenge'), `code_challenge_method=${q.get('code_challenge_method')}`);
  assert(q.get('resource') === serverUrl.href, `resource=${q.get('resource')}, expected ${serverUrl.href}`);
});
if (values.cimd) {
  await cases.check('the client is known by its metadata document', async () => {
    const clientId = provider.clientInformation()?.client_id;
    assert(clientId === values.cimd, `client_id ${clientId}, expected ${values.cimd}`);
    assert(provider.authorizations[0].request.searchParams.get('client_id') === values.cimd, 'the authorization request had another client_id');
    const consent = provider.authorizations[0].consent;
    const name = new URL(values.cimd).pathname.replace(/^\/clients\/|\.json$/g, '');
    assert(consent?.client === `Portcullis peers ${name}`, `the consent page named ${JSON.stringify(consent?.client)}`);
    assert(consent?.documentHost === new URL(values.cimd).hostname, `the consent page showed document host ${consent?.documentHost}`);
  });
} else {
  await cases.check('the client registered itself (RFC 7591)', async () => {
    const info = provider.clientInformation();
    assert(info?.client_id && !info.client_id.startsWith('https://'), `client_id ${info?.client_id}`);
    assert(info.client_id_issued_at > 0, 'no client_id_issued_at in the registration answer');
    const consent = provider.authorizations[0].consent;
    assert(consent?.client === `Portcullis peers ${label}`, `the consent page named ${JSON.stringify(consent?.client)}`);
  });
}
await cases.check('the access token is a JWT for this MCP server alone', async () => {
  const tokens = provider.tokens();
  assert(tokens?.token_type?.toLowerCase() === 'bearer', `token_type ${tokens?.token_type}`);
  assert(tokens.refresh_token, 'no refresh token');
  const claims = jwtClaims(tokens.access_token);
  assert(claims.iss === issuer, `iss ${claims.iss}`);
  assert(claims.aud === serverUrl.href || (Array.isArray(claims.aud) && claims.aud.length === 1 && claims.aud[0] === serverUrl.href), `aud ${JSON.stringify(claims.aud)}`);
  assert(claims.client_id === provider.clientInformation().client_id, `client_id ${claims.client_id}`);
});
await everythingTools(cases, { listTools: () => client.listTools(undefined, { timeout }), callTool });
await cases.check('a refused access token is refreshed without signing in again; the refresh token rotates', async () => {
  const before = provider.tokens();
  // What a client sees when its access token has expired or was revoked: 401 invalid_token.
  provider.saveTokens({ ...before, access_token: 'expired' });
  const result = await callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } });
  assert(!result.isError && /\b2\b/.test(textOf(result)), `got ${JSON.stringify(result)}`);
  const after = provider.tokens();
  assert(after.access_token !== 'expired' && after.access_token !== before.access_token, 'no new access token');
  assert(after.refresh_token && after.refresh_token !== before.refresh_token, 'the refresh token did not rotate');
  assert(provider.authorizations.length === 1, 'the person was asked to sign in again');
});
await cases.check('close', async () => {
  await client.close();
});

cases.exit();
