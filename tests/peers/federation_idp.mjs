// Identity providers on loopback for the federation suite (federation.sh): what Portcullis's
// `[[identity_providers]]` meet in the world, one kind per process.
//
//   FEDERATION_CLIENT_SECRET=… FEDERATION_PASSWORD=… node federation_idp.mjs --kind KIND \
//     --port PORT --client-id ID --redirect-uri URI [--access-ttl SECONDS] [--log FILE]
//
// KIND:
//   oidc    a real OpenID Connect provider (npm oidc-provider) at http://127.0.0.1:PORT: discovery,
//           PKCE required, client_secret_basic, RFC 9207 `iss`, refresh tokens, its development
//           sign-in and consent pages (any login, which becomes the person's email and `sub`).
//   google  the same, shaped like Google: the ID token carries `hd`, the account's domain
//           (none for gmail.com), as Google's does for Workspace accounts.
//   entra   shaped like the Microsoft identity platform v2 for `organizations`: discovery at
//           /organizations/v2.0 whose issuer is the template http://127.0.0.1:PORT/{tenantid}/v2.0,
//           ID tokens whose `iss` names the person's directory, with `tid` and `xms_edov`, no
//           RFC 9207 `iss`, and a userinfo endpoint as Graph's /oidc/userinfo.
//   github  shaped like GitHub Enterprise Server at base URL http://127.0.0.1:PORT: the OAuth app
//           endpoints under /login/oauth (PKCE, JSON answers with `Accept: application/json`,
//           errors as 200 with `error`), `gho_` tokens, and the REST API under /api/v3 (/user,
//           /user/emails, /user/orgs, /user/teams; a User-Agent is required, as GitHub's is).
//
// The entra and github kinds have their own sign-in page (one form: login, password) that
// knows the accounts below, all with the password in FEDERATION_PASSWORD. Every request is
// appended to --log as one JSON line (method, path, status, how the client authenticated).
// Listens on 127.0.0.1 only.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

import * as jose from 'jose';

const { values } = parseArgs({
  options: {
    kind: { type: 'string' },
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'access-ttl': { type: 'string', default: '3600' },
    log: { type: 'string' },
  },
});
const kind = values.kind;
const port = Number(values.port);
const clientId = values['client-id'];
const redirectUri = values['redirect-uri'];
const clientSecret = process.env.FEDERATION_CLIENT_SECRET;
const password = process.env.FEDERATION_PASSWORD;
const accessTtl = Number(values['access-ttl']);
if (!['oidc', 'google', 'entra', 'github'].includes(kind) || !port || !clientId || !redirectUri || !clientSecret) {
  console.error('usage: FEDERATION_CLIENT_SECRET=… node federation_idp.mjs --kind oidc|google|entra|github --port P --client-id ID --redirect-uri URI');
  process.exit(2);
}
const origin = `http://127.0.0.1:${port}`;

function record(entry) {
  if (values.log) fs.appendFileSync(values.log, `${JSON.stringify({ kind, ...entry })}\n`);
}

function clientAuthOf(authorization) {
  return authorization?.split(' ')[0]?.toLowerCase() ?? 'none';
}

const random = (bytes = 24) => crypto.randomBytes(bytes).toString('base64url');
const sha256 = (text) => crypto.createHash('sha256').update(text).digest('base64url');
const equal = (a, b) => typeof a === 'string' && typeof b === 'string' && a.length === b.length
  && crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));

// --- oidc and google: oidc-provider ----------------------------------------------------------

async function startOidcProvider() {
  const { default: Provider } = await import('oidc-provider');
  const signing = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const google = kind === 'google';
  const provider = new Provider(origin, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [{ ...signing, kid: `${kind}-1`, alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [random(32)] },
    pkce: { required: () => true },
    // Scope claims go in the ID token too (not only userinfo), as Google's and most providers' do.
    conformIdTokenClaims: false,
    claims: {
      openid: google ? ['sub', 'hd'] : ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    // A refresh token for Portcullis's client without `offline_access` (which oidc-provider
    // honours only with prompt=consent), as Google gives one with access_type=offline.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: { AccessToken: accessTtl, IdToken: 3600, RefreshToken: 86400, Interaction: 600, Session: 3600, Grant: 86400 },
    features: { devInteractions: { enabled: true } },
    // The development sign-in takes any login: it is the person's email address and subject.
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          const domain = id.includes('@') ? id.split('@')[1] : undefined;
          const claims = {
            sub: id,
            email: id.includes('@') ? id : undefined,
            email_verified: id.includes('@') ? true : undefined,
            name: `Person ${id}`,
            preferred_username: id,
          };
          if (google && domain && domain !== 'gmail.com') claims.hd = domain;
          return claims;
        },
      };
    },
  });
  provider.use(async (ctx, next) => {
    await next();
    record({ method: ctx.method, path: ctx.path, status: ctx.status, client_auth: ctx.path === '/token' ? clientAuthOf(ctx.get('authorization')) : undefined });
  });
  provider.listen(port, '127.0.0.1');
}

// --- entra and github: small servers ------------------------------------------------------------

const people = {
  entra: {
    'dana@contoso.example': { oid: '3f1c2b7a-5d41-4c9e-8f0a-1b2c3d4e5f60', tid: '6a0b1c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d', name: 'Dana Contoso' },
  },
  github: {
    'octo-erin': { id: 583231, email: 'erin@erin.example', name: 'Erin Octo', orgs: ['acme'], teams: ['acme/platform'] },
    'octo-frank': { id: 583232, email: 'frank@frank.example', name: 'Frank Octo', orgs: ['elsewhere'], teams: [] },
  },
}[kind] ?? {};

/// Pending authorization requests (by sign-in form transaction), codes, and tokens.
const pending = new Map();
const codes = new Map();
const accessTokens = new Map();
const refreshTokens = new Map();

function html(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><title>Sign in</title></head><body>${body}</body></html>`);
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function redirect(res, location) {
  res.writeHead(302, { location, 'cache-control': 'no-store' });
  res.end();
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function signInPage(res, txn, error) {
  html(res, 200, `<h1>Sign in to ${kind === 'entra' ? 'your organisation' : 'GitHub'}</h1>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/session">
  <input type="hidden" name="txn" value="${escapeHtml(txn)}">
  <label>Username or email <input type="text" name="login"></label>
  <label>Password <input type="password" name="password"></label>
  <button type="submit">Sign in</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

/// The authorization request: the client, its redirect URI and PKCE S256 are checked before
/// the person sees anything (an unknown redirect URI is never redirected to).
function authorize(res, query) {
  const q = Object.fromEntries(query);
  if (q.client_id !== clientId || q.redirect_uri !== redirectUri) {
    html(res, 400, '<p>Unknown client or redirect URI.</p>');
    return;
  }
  const back = new URL(redirectUri);
  const refuse = (error) => {
    back.searchParams.set('error', error);
    if (q.state) back.searchParams.set('state', q.state);
    redirect(res, back.href);
  };
  if (q.response_type !== 'code') return refuse('unsupported_response_type');
  if (q.code_challenge_method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge ?? '')) return refuse('invalid_request');
  if (kind === 'entra' && !(q.scope ?? '').split(' ').includes('openid')) return refuse('invalid_scope');
  const txn = random();
  pending.set(txn, q);
  signInPage(res, txn);
}

async function session(req, res) {
  const form = await readForm(req);
  const q = pending.get(form.txn);
  if (!q) {
    html(res, 400, '<p>This sign-in has expired.</p>');
    return;
  }
  const person = people[form.login];
  if (!person || !equal(form.password, password)) {
    signInPage(res, form.txn, 'Incorrect username or password.');
    return;
  }
  pending.delete(form.txn);
  const code = random();
  codes.set(code, { q, login: form.login, at: Date.now() });
  const back = new URL(redirectUri);
  back.searchParams.set('code', code);
  if (q.state) back.searchParams.set('state', q.state);
  redirect(res, back.href);
}

/// Client authentication at the token endpoint: HTTP Basic (form-urlencoded parts, RFC 6749
/// §2.3.1) or the form's client_id and client_secret.
function clientAuthenticated(req, form) {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic) {
    const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')));
    return id === clientId && equal(secret, clientSecret);
  }
  return form.client_id === clientId && equal(form.client_secret, clientSecret);
}

let entraKeys;
/// Entra's `sub` is pairwise: one value per person and application.
const pairwiseSubject = (person) => sha256(`${clientId}/${person.oid}`);
async function idToken(login, nonce) {
  const person = people[login];
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({
    ver: '2.0',
    tid: person.tid,
    oid: person.oid,
    sub: pairwiseSubject(person),
    email: login,
    xms_edov: true,
    name: person.name,
    preferred_username: login,
    nonce,
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'entra-1', typ: 'JWT' })
    .setIssuer(`${origin}/${person.tid}/v2.0`)
    .setAudience(clientId)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 3600)
    .sign(entraKeys.privateKey);
}

function newAccessToken(login) {
  const token = kind === 'github' ? `gho_${crypto.randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}` : `ey${random(48)}`;
  accessTokens.set(token, { login, expires: Date.now() + accessTtl * 1000 });
  return token;
}

async function token(req, res) {
  const form = await readForm(req);
  // GitHub answers OAuth errors with 200 and an `error` member; the others with 400/401.
  const fail = (status, error) => (kind === 'github' ? json(res, 200, { error }) : json(res, status, { error }));
  if (!clientAuthenticated(req, form)) return fail(401, kind === 'github' ? 'incorrect_client_credentials' : 'invalid_client');
  let login;
  if (form.grant_type === 'authorization_code' || (kind === 'github' && !form.grant_type)) {
    const entry = codes.get(form.code);
    codes.delete(form.code);
    if (!entry || Date.now() - entry.at > 600_000 || form.redirect_uri !== entry.q.redirect_uri) {
      return fail(400, kind === 'github' ? 'bad_verification_code' : 'invalid_grant');
    }
    if (sha256(form.code_verifier ?? '') !== entry.q.code_challenge) return fail(400, kind === 'github' ? 'bad_verification_code' : 'invalid_grant');
    login = entry.login;
    const access = newAccessToken(login);
    if (kind === 'github') {
      if (!/application\/json/.test(req.headers.accept ?? '')) {
        // Without the Accept header GitHub answers form-encoded, which a JSON reader cannot use.
        res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' });
        res.end(new URLSearchParams({ access_token: access, scope: entry.q.scope ?? '', token_type: 'bearer' }).toString());
        return undefined;
      }
      return json(res, 200, { access_token: access, token_type: 'bearer', scope: (entry.q.scope ?? '').split(' ').join(',') });
    }
    const refresh = random();
    refreshTokens.set(refresh, login);
    return json(res, 200, {
      token_type: 'Bearer',
      scope: entry.q.scope,
      expires_in: accessTtl,
      ext_expires_in: accessTtl,
      access_token: access,
      refresh_token: refresh,
      id_token: await idToken(login, entry.q.nonce),
    });
  }
  if (form.grant_type === 'refresh_token' && kind === 'entra') {
    login = refreshTokens.get(form.refresh_token);
    refreshTokens.delete(form.refresh_token);
    if (!login) return fail(400, 'invalid_grant');
    const refresh = random();
    refreshTokens.set(refresh, login);
    return json(res, 200, { token_type: 'Bearer', expires_in: accessTtl, access_token: newAccessToken(login), refresh_token: refresh });
  }
  return fail(400, 'unsupported_grant_type');
}

/// The person an access token was given to, while it lasts.
function bearer(req) {
  const token = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const entry = token && accessTokens.get(token);
  return entry && entry.expires > Date.now() ? entry.login : undefined;
}

function github(req, res, path) {
  if (!req.headers['user-agent']) {
    json(res, 403, { message: 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.' });
    return;
  }
  const login = bearer(req);
  if (!login) {
    json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    return;
  }
  const person = people[login];
  switch (path) {
    case '/api/v3/user':
      return json(res, 200, { login, id: person.id, type: 'User', name: person.name, email: null });
    case '/api/v3/user/emails':
      return json(res, 200, [
        { email: person.email, primary: true, verified: true, visibility: 'private' },
        { email: `${login}@users.noreply.example`, primary: false, verified: true, visibility: null },
      ]);
    case '/api/v3/user/orgs':
      return json(res, 200, person.orgs.map((org, i) => ({ login: org, id: 9000 + i })));
    case '/api/v3/user/teams':
      return json(res, 200, person.teams.map((t, i) => {
        const [org, slug] = t.split('/');
        return { id: 7000 + i, slug, name: slug, organization: { login: org } };
      }));
    default:
      return json(res, 404, { message: 'Not Found' });
  }
}

async function entraRoutes(req, res, url) {
  const tenantPath = '/organizations';
  switch (`${req.method} ${url.pathname}`) {
    case `GET ${tenantPath}/v2.0/.well-known/openid-configuration`:
      return json(res, 200, {
        issuer: `${origin}/{tenantid}/v2.0`,
        authorization_endpoint: `${origin}${tenantPath}/oauth2/v2.0/authorize`,
        token_endpoint: `${origin}${tenantPath}/oauth2/v2.0/token`,
        jwks_uri: `${origin}${tenantPath}/discovery/v2.0/keys`,
        userinfo_endpoint: `${origin}/oidc/userinfo`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        response_modes_supported: ['query', 'fragment', 'form_post'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'name', 'preferred_username', 'email', 'oid', 'tid', 'ver'],
        tenant_region_scope: null,
        request_uri_parameter_supported: false,
      });
    case `GET ${tenantPath}/discovery/v2.0/keys`:
      return json(res, 200, { keys: [{ ...(await jose.exportJWK(entraKeys.publicKey)), kid: 'entra-1', use: 'sig' }] });
    case `GET ${tenantPath}/oauth2/v2.0/authorize`:
      return authorize(res, url.searchParams);
    case 'POST /session':
      return session(req, res);
    case `POST ${tenantPath}/oauth2/v2.0/token`:
      return token(req, res);
    case 'GET /oidc/userinfo': {
      const login = bearer(req);
      if (!login) return json(res, 401, { error: 'invalid_token' });
      return json(res, 200, { sub: pairwiseSubject(people[login]), name: people[login].name, email: login });
    }
    default:
      return json(res, 404, { error: 'not_found' });
  }
}

async function githubRoutes(req, res, url) {
  switch (`${req.method} ${url.pathname}`) {
    case 'GET /login/oauth/authorize':
      return authorize(res, url.searchParams);
    case 'POST /session':
      return session(req, res);
    case 'POST /login/oauth/access_token':
      return token(req, res);
    default:
      if (req.method === 'GET' && url.pathname.startsWith('/api/v3/')) return github(req, res, url.pathname);
      return json(res, 404, { message: 'Not Found' });
  }
}

async function startSmallServer() {
  if (kind === 'entra') entraKeys = await jose.generateKeyPair('RS256', { extractable: true });
  const routes = kind === 'entra' ? entraRoutes : githubRoutes;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, origin);
    try {
      await routes(req, res, url);
    } catch (err) {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: String(err) });
      else res.end();
    }
    record({ method: req.method, path: url.pathname, status: res.statusCode, client_auth: /token$/.test(url.pathname) ? clientAuthOf(req.headers.authorization) : undefined });
  });
  server.listen(port, '127.0.0.1');
}

if (kind === 'oidc' || kind === 'google') await startOidcProvider();
else await startSmallServer();
console.log(`${kind} identity provider on ${origin}`);
