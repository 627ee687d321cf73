// A strict OAuth client library (npm oauth4webapi) against Portcullis, step by step, each step
// validated as the library validates it: the 401 challenge (RFC 6750), protected resource
// metadata (RFC 9728: `resource` must equal the URL it was built from), authorization server
// metadata (RFC 8414: `issuer` must equal the issuer it was discovered from), dynamic
// registration (RFC 7591), the authorization response received on a real loopback callback
// server (state, and RFC 9207 `iss` since the metadata says it is sent), the token response
// with an OpenID Connect ID token (nonce, audience, issuer), the access token as an RFC 9068
// JWT checked against the JWKS like a resource server would, refresh with rotation, RFC 7009
// revocation, and a denied request (error with `iss`). Then MCP calls with the token. One line
// per case, `ok strict: CASE` or `FAIL strict: CASE: why`; exit status 1 when any case failed.
//
//   PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p node strict-oauth-client.mjs URL
//
// Plain http is allowed (oauth4webapi.allowInsecureRequests) because the suite runs Portcullis
// on 127.0.0.1 without TLS; every other rule of the library is on.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import * as oauth from 'oauth4webapi';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

import { Cases, assert, describe, textOf } from './cases.mjs';
import { authorizeInBrowser, deliver } from './oauth_user.mjs';

const { positionals } = parseArgs({ allowPositionals: true });
const [url] = positionals;
if (!url) {
  console.error('usage: node strict-oauth-client.mjs URL');
  process.exit(2);
}
const label = 'strict';
const resource = new URL(url);
const person = { username: process.env.PEERS_OAUTH_USERNAME, password: process.env.PEERS_OAUTH_PASSWORD };
const http = { [oauth.allowInsecureRequests]: true, signal: () => AbortSignal.timeout(10_000) };
const timeout = 15_000;

const cases = new Cases(label);

/// A loopback callback server, as a native app runs one (RFC 8252 §7.3): it answers the
/// browser's redirect and hands its URL to whoever waits.
function callbackServer() {
  const waiting = [];
  const server = createServer((req, res) => {
    const received = new URL(req.url, `http://127.0.0.1:${server.address().port}`);
    res.writeHead(received.pathname === '/callback' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end('You may close this window.\n');
    if (received.pathname === '/callback') waiting.shift()?.(received);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        redirectUri: `http://127.0.0.1:${server.address().port}/callback`,
        next: () => new Promise((r) => waiting.push(r)),
        close: () => server.close(),
      }),
    ),
  );
}

async function mcpClient(accessToken) {
  const transport = new StreamableHTTPClientTransport(resource, {
    requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
  });
  const client = new Client({ name: 'portcullis-peers-strict', version: '0.0.0' });
  await client.connect(transport, { timeout });
  return client;
}

const callbacks = await callbackServer();
let as, rs, client, challenge, tokens, code;
const clientAuth = oauth.None();

/// One authorization request through the person's browser to the loopback callback.
async function authorize(decision, { nonce, state, verifier }) {
  const request = new URL(as.authorization_endpoint);
  request.searchParams.set('response_type', 'code');
  request.searchParams.set('client_id', client.client_id);
  request.searchParams.set('redirect_uri', callbacks.redirectUri);
  request.searchParams.set('scope', 'openid');
  request.searchParams.set('state', state);
  request.searchParams.set('nonce', nonce);
  request.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  request.searchParams.set('code_challenge_method', 'S256');
  request.searchParams.set('resource', resource.href);
  const received = callbacks.next();
  const { location } = await authorizeInBrowser(request.href, { ...person, decision });
  assert(new URL(location).origin === new URL(callbacks.redirectUri).origin, `redirected to ${location}`);
  const status = await deliver(location);
  assert(status === 200, `the callback server answered ${status}`);
  return received;
}

await cases.step('an unauthenticated MCP request gets a Bearer challenge naming the resource metadata', async () => {
  const response = await oauth.protectedResourceRequest('not-a-token', 'POST', resource, new Headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }), JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), http).catch((err) => err);
  assert(response instanceof oauth.WWWAuthenticateChallengeError, `expected a WWW-Authenticate challenge, got ${response?.status ?? response}`);
  assert(response.response.status === 401, `status ${response.response.status}`);
  challenge = response.cause.find((c) => c.scheme === 'bearer');
  assert(challenge, `no Bearer challenge in ${JSON.stringify(response.cause)}`);
  assert(challenge.parameters.error === 'invalid_token', `error ${challenge.parameters.error}`);
  assert(challenge.parameters.resource_metadata, 'no resource_metadata parameter');
});
await cases.step('protected resource metadata (RFC 9728) names this resource and one issuer', async () => {
  const response = await oauth.resourceDiscoveryRequest(resource, http);
  assert(response.url === challenge.parameters.resource_metadata, `the challenge pointed at ${challenge.parameters.resource_metadata}, the well-known URL is ${response.url}`);
  rs = await oauth.processResourceDiscoveryResponse(resource, response);
  assert(rs.authorization_servers?.length === 1, `authorization_servers ${JSON.stringify(rs.authorization_servers)}`);
});
await cases.step('authorization server metadata (RFC 8414) has the same issuer, PKCE S256 and iss', async () => {
  const issuer = new URL(rs.authorization_servers[0]);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...http, algorithm: 'oauth2' }));
  const oidc = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...http, algorithm: 'oidc' }));
  assert(oidc.issuer === as.issuer && oidc.token_endpoint === as.token_endpoint, 'the OpenID configuration differs from the OAuth metadata');
  assert(as.code_challenge_methods_supported?.includes('S256'), `code_challenge_methods_supported ${as.code_challenge_methods_supported}`);
  assert(!as.code_challenge_methods_supported.includes('plain'), 'plain PKCE is advertised');
  assert(as.authorization_response_iss_parameter_supported === true, 'authorization_response_iss_parameter_supported is not true');
  assert(as.registration_endpoint && as.revocation_endpoint && as.jwks_uri, 'registration, revocation or JWKS endpoint missing');
});
await cases.step('dynamic client registration (RFC 7591)', async () => {
  const response = await oauth.dynamicClientRegistrationRequest(as, {
    client_name: 'Portcullis peers strict',
    redirect_uris: [callbacks.redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
  }, http);
  client = await oauth.processDynamicClientRegistrationResponse(response);
  assert(!client.client_secret, 'a public client got a secret');
});
const nonce = oauth.generateRandomNonce();
const state = oauth.generateRandomState();
const verifier = oauth.generateRandomCodeVerifier();
await cases.step('the authorization response has state and iss (RFC 9207) and a code', async () => {
  const received = await authorize('allow', { nonce, state, verifier });
  assert(received.searchParams.getAll('iss').length === 1, 'iss is not there exactly once');
  code = oauth.validateAuthResponse(as, client, received, state);
});
let tokenResponse;
await cases.step('the code is exchanged: token response, ID token (nonce, audience, issuer)', async () => {
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, code, callbacks.redirectUri, verifier, { ...http, additionalParameters: { resource: resource.href } });
  assert(/no-store/.test(response.headers.get('cache-control') ?? ''), `Cache-Control ${response.headers.get('cache-control')}`);
  tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
  tokenResponse = tokens;
  assert(tokens.token_type === 'bearer', `token_type ${tokens.token_type}`);
  assert(tokens.refresh_token, 'no refresh token');
  const id = oauth.getValidatedIdTokenClaims(tokens);
  assert(id.sub && id.auth_time, 'the ID token has no sub or auth_time');
});
await cases.step('the access token is an RFC 9068 JWT for this MCP server, valid against the JWKS', async () => {
  const request = new Request(resource, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, request, resource.href, http);
  assert(claims.client_id === client.client_id, `client_id ${claims.client_id}`);
  assert(claims.sub === oauth.getValidatedIdTokenClaims(tokenResponse).sub, 'the access token and the ID token name different subjects');
  let other = false;
  try {
    await oauth.validateJwtAccessToken(as, request, `${resource.origin}/servers/another/mcp`, http);
    other = true;
  } catch {}
  assert(!other, 'the token is accepted for another audience');
});
await cases.check('the token works on the MCP server: tools/list, tools/call echo', async () => {
  const mcp = await mcpClient(tokens.access_token);
  try {
    const { tools } = await mcp.listTools(undefined, { timeout });
    assert(tools.some((t) => t.name === 'echo'), `tools were ${JSON.stringify(tools.map((t) => t.name))}`);
    const result = await mcp.callTool({ name: 'echo', arguments: { message: 'strict ✓' } }, { timeout });
    assert(textOf(result) === 'Echo: strict ✓', `got ${JSON.stringify(result.content)}`);
  } finally {
    await mcp.close();
  }
});
let rotated;
await cases.step('refresh rotates the refresh token; the new access token works', async () => {
  const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, { ...http, additionalParameters: { resource: resource.href } });
  rotated = await oauth.processRefreshTokenResponse(as, client, response);
  assert(rotated.refresh_token && rotated.refresh_token !== tokens.refresh_token, 'the refresh token did not rotate');
  assert(rotated.access_token !== tokens.access_token, 'the same access token came back');
  const mcp = await mcpClient(rotated.access_token);
  const result = await mcp.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } }, { timeout });
  await mcp.close();
  assert(/\b42\b/.test(textOf(result)), `got ${JSON.stringify(result.content)}`);
});
await cases.check('revoking the refresh token (RFC 7009) ends the grant: refresh and MCP calls refused', async () => {
  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, rotated.refresh_token, http));
  const refused = await oauth
    .processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, clientAuth, rotated.refresh_token, { ...http, additionalParameters: { resource: resource.href } }))
    .then(() => undefined, (err) => err);
  assert(refused instanceof oauth.ResponseBodyError && refused.error === 'invalid_grant', `refresh after revocation: ${refused ? describe(refused) : 'accepted'}`);
  const call = await oauth.protectedResourceRequest(rotated.access_token, 'POST', resource, new Headers({ 'content-type': 'application/json', accept: 'application/json, text/event-stream' }), JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), http).then((r) => r, (err) => err);
  assert(call instanceof oauth.WWWAuthenticateChallengeError && call.response.status === 401, `an MCP call with the grant's access token got ${call?.status ?? call?.response?.status ?? call}`);
});
await cases.check('Deny answers access_denied with state and iss', async () => {
  const denyState = oauth.generateRandomState();
  const received = await authorize('deny', { nonce: oauth.generateRandomNonce(), state: denyState, verifier: oauth.generateRandomCodeVerifier() });
  const err = (() => {
    try {
      oauth.validateAuthResponse(as, client, received, denyState);
    } catch (e) {
      return e;
    }
  })();
  assert(err instanceof oauth.AuthorizationResponseError && err.error === 'access_denied', `got ${err ? describe(err) : 'a code'}`);
  assert(!received.searchParams.has('code'), 'a code came with the denial');
});

callbacks.close();
cases.exit();
