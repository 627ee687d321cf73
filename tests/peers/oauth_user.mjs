// The person in a browser, headless: follows an authorization URL to Portcullis, signs in on
// /login with a username and password, and answers the consent page (Allow, or Deny), reading
// each form's hidden fields (`csrf_token`, `return_to`, `request`) as a browser would submit
// them. Cookies are kept, redirects are looked at one by one, and form posts carry the page's
// `Origin`. What comes back is the redirect to the client: `redirect_uri?code&state&iss`.
//
// As a module (the TypeScript clients):
//   import { authorizeInBrowser } from './oauth_user.mjs';
//   const { location, consent } = await authorizeInBrowser(url, { username, password });
// or, for an SDK client, `new HeadlessClientProvider({ label, cimd, signIn: { username, password } })`.
//
// Through an identity provider (federation.sh): instead of the password form, the person clicks
// "Sign in with NAME" on /login, signs in at the provider (its one form's text and password
// fields get `login` and `password`; a form without them, such as a consent page, is just
// submitted), comes back through /auth/callback/{id}, and answers the consent page:
//   const { location, callback } = await authorizeInBrowser(url, { provider: { name, login, password } });
// `callback` is the provider's redirect to Portcullis and the cookies sent with it (to replay it).
//
// As a command (the Python client, the Inspector's "browser", the conformance runner):
//   PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p node oauth_user.mjs [--follow] [--deny] URL
// prints the redirect to the client on stdout and what the consent page showed on stderr. With
// --follow it also delivers that redirect (GET) to the client's loopback callback. Exit status 1
// with a reason on stderr when any step is not what a person would see.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const STEP_TIMEOUT_MS = 10_000;
const MAX_STEPS = 24;

class Browser {
  constructor() {
    // Cookies by origin: Portcullis and a provider on another loopback port never see each
    // other's (a real browser keys them by host alone, but the names never meet here).
    this.jars = new Map();
  }

  jar(url) {
    const origin = new URL(url).origin;
    if (!this.jars.has(origin)) this.jars.set(origin, new Map());
    return this.jars.get(origin);
  }

  /// The Cookie header the browser sends to `url`.
  cookieHeader(url) {
    const jar = this.jar(url);
    return jar.size ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  }

  async request(url, { method = 'GET', form, origin } = {}) {
    const headers = {};
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = origin;
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    });
    const jar = this.jar(url);
    for (const set of response.headers.getSetCookie()) {
      const [pair, ...attributes] = set.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => {
        const [key, value = ''] = a.split('=').map((x) => x.trim());
        return (/^max-age$/i.test(key) && Number(value) <= 0) || (/^expires$/i.test(key) && Date.parse(value) <= Date.now());
      });
      if (expired) jar.delete(name);
      else jar.set(name, pair.slice(eq + 1).trim());
    }
    const text = await response.text();
    return { status: response.status, location: response.headers.get('location'), text, url };
  }
}

/// The few HTML escapes askama writes, and numeric references.
function unescapeHtml(s) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return named[ref.toLowerCase()] ?? whole;
  });
}

/// What a person reads on a page: the body's text, without styles and markup.
function textOf(html) {
  const body = html.replace(/<head\b[\s\S]*?<\/head>|<style\b[\s\S]*?<\/style>|<script\b[\s\S]*?<\/script>/gi, ' ');
  return unescapeHtml(body.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
}

const POST_FORMS = /<form\b[^>]*\bmethod="post"[^>]*>([\s\S]*?)<\/form>/gi;

/// A POST form of `page`: its absolute action, its hidden fields and the names of its visible
/// text and password inputs.
function parseForm(page, match) {
  const action = /\baction="([^"]*)"/i.exec(match[0])?.[1];
  if (!action) throw new Error(`a form on ${page.url} has no action`);
  const fields = {};
  const visible = { text: [], password: [] };
  for (const input of match[1].matchAll(/<input\b[^>]*>/gi)) {
    const tag = input[0];
    const name = /\bname="([^"]*)"/i.exec(tag)?.[1];
    if (!name) continue;
    const type = (/\btype="([^"]*)"/i.exec(tag)?.[1] ?? 'text').toLowerCase();
    if (type === 'hidden') fields[unescapeHtml(name)] = unescapeHtml(/\bvalue="([^"]*)"/i.exec(tag)?.[1] ?? '');
    else if (type === 'password') visible.password.push(unescapeHtml(name));
    else if (['text', 'email'].includes(type)) visible.text.push(unescapeHtml(name));
  }
  return { action: new URL(unescapeHtml(action), page.url).href, fields, visible, body: match[1] };
}

/// The page's single POST form: its absolute action and its hidden fields.
function formOf(page) {
  const forms = [...page.text.matchAll(POST_FORMS)];
  if (forms.length !== 1) throw new Error(`expected one form on ${page.url}, found ${forms.length}: ${textOf(page.text).slice(0, 300)}`);
  const form = parseForm(page, forms[0]);
  if (!form.fields.csrf_token) throw new Error(`the form on ${page.url} has no csrf_token field`);
  return form;
}

/// The sign-in page's form whose button reads `Sign in with NAME`.
function providerButtonOf(page, name) {
  const wanted = `Sign in with ${name}`;
  const forms = [...page.text.matchAll(POST_FORMS)].filter((f) =>
    [...f[1].matchAll(/<button\b[^>]*>([\s\S]*?)<\/button>/gi)].some((b) => textOf(b[1]) === wanted));
  if (forms.length !== 1) throw new Error(`expected one "${wanted}" button on ${page.url}, found ${forms.length}: ${textOf(page.text).slice(0, 300)}`);
  const form = parseForm(page, forms[0]);
  if (!form.fields.csrf_token) throw new Error(`the "${wanted}" form on ${page.url} has no csrf_token field`);
  return form;
}

/// What the consent page tells the person: the client's name, the MCP server, where the answer
/// goes, the metadata document's host, and the scopes it asks for (each item of "It asks to";
/// none when it asks to use the server as the person).
function consentFacts(page) {
  const h1 = /<h1>([\s\S]*?)<\/h1>/i.exec(page.text)?.[1] ?? '';
  const m = /^Allow (.*) to use (.*)\?$/.exec(textOf(h1));
  const receiver = /It will receive your authorization at<\/dt>\s*<dd>([\s\S]*?)<\/dd>/i.exec(page.text)?.[1];
  const document = /\(described at ([^)]*)\)/.exec(page.text)?.[1];
  const asks = /It asks to<\/dt>\s*<dd>([\s\S]*?)<\/dd>/i.exec(page.text)?.[1] ?? '';
  return {
    client: m ? m[1] : undefined,
    resource: m ? m[2] : undefined,
    redirectHost: receiver ? textOf(receiver) : undefined,
    documentHost: document ? unescapeHtml(document) : undefined,
    scopes: [...asks.matchAll(/<li>([\s\S]*?)<\/li>/gi)].map((li) => textOf(li[1])),
  };
}

function isPage(location, issuer, path) {
  const url = new URL(location, issuer);
  return url.origin === issuer.origin && url.pathname === path;
}

/// A Portcullis page that ended the sign-in without an answer for the client (an error page):
/// its status and text are kept for the caller to check.
export class RefusedError extends Error {
  constructor(page) {
    super(`${page.url} answered ${page.status}: ${textOf(page.text).slice(0, 300)}`);
    this.status = page.status;
    this.text = textOf(page.text);
  }
}

/// Takes the authorization request at `authorizationUrl` through sign-in and consent; returns
/// the redirect to the client (`location`), what the consent page showed (`consent`, absent
/// when no page was shown) and, through a provider, its redirect back to Portcullis
/// (`callback`: `url` and the `cookie` header sent with it).
export async function authorizeInBrowser(authorizationUrl, { username, password, provider, decision = 'allow' }) {
  if (!provider && (!username || !password)) throw new Error('a username and password are needed to sign in');
  if (provider && (!provider.name || !provider.login || !provider.password)) throw new Error('a provider name, login and password are needed to sign in there');
  const issuer = new URL(new URL(authorizationUrl).origin);
  const browser = new Browser();
  let page = await browser.request(authorizationUrl);
  let consent;
  let providerOrigin;
  let callback;
  for (let step = 0; step < MAX_STEPS; step += 1) {
    if (page.status === 200 && isPage(page.url, issuer, '/login')) {
      if (provider) {
        const form = providerButtonOf(page, provider.name);
        page = await browser.request(form.action, { method: 'POST', origin: issuer.origin, form: form.fields });
        if (page.status !== 303 || !page.location) throw new Error(`"Sign in with ${provider.name}" answered ${page.status}: ${textOf(page.text).slice(0, 300)}`);
        providerOrigin = new URL(page.location, page.url).origin;
        if (providerOrigin === issuer.origin) throw new Error(`"Sign in with ${provider.name}" sent the browser to ${page.location}, not to the provider`);
        page = await browser.request(new URL(page.location, page.url).href);
        continue;
      }
      const form = formOf(page);
      page = await browser.request(form.action, {
        method: 'POST',
        origin: issuer.origin,
        form: { ...form.fields, username, password },
      });
      if (page.status !== 303) throw new Error(`signing in answered ${page.status}: ${textOf(page.text).slice(0, 300)}`);
      continue;
    }
    if (page.status === 200 && isPage(page.url, issuer, '/authorize')) {
      consent = consentFacts(page);
      const form = formOf(page);
      if (!/<button[^>]*value="allow"[^>]*>\s*Allow\s*<\/button>/.test(form.body)) throw new Error('the consent page has no Allow button');
      if (!/<button[^>]*value="deny"[^>]*>\s*Deny\s*<\/button>/.test(form.body)) throw new Error('the consent page has no Deny button');
      page = await browser.request(form.action, {
        method: 'POST',
        origin: issuer.origin,
        form: { ...form.fields, decision },
      });
      if (page.status !== 303) throw new Error(`the consent answer was ${page.status}: ${textOf(page.text).slice(0, 300)}`);
      if (isPage(page.location, issuer, '/authorize') || isPage(page.location, issuer, '/login')) {
        throw new Error(`the consent answer sent the browser back to ${page.location}`);
      }
      return { location: new URL(page.location, issuer).href, consent, callback };
    }
    if (page.status === 200 && providerOrigin && new URL(page.url).origin === providerOrigin) {
      // A page of the provider's: its sign-in form, or its consent form.
      const forms = [...page.text.matchAll(POST_FORMS)].map((f) => parseForm(page, f));
      if (forms.length !== 1) throw new Error(`expected one form on the provider's ${page.url}, found ${forms.length}: ${textOf(page.text).slice(0, 300)}`);
      const [form] = forms;
      const filled = { ...form.fields };
      for (const name of form.visible.text) filled[name] = provider.login;
      for (const name of form.visible.password) filled[name] = provider.password;
      page = await browser.request(form.action, { method: 'POST', origin: providerOrigin, form: filled });
      continue;
    }
    if ([302, 303, 307].includes(page.status) && page.location) {
      const next = new URL(page.location, page.url);
      if (providerOrigin && next.origin === providerOrigin) {
        page = await browser.request(next.href);
        continue;
      }
      if (next.origin !== issuer.origin) {
        // Portcullis sent the browser to the client without asking: an error, or a remembered
        // consent. Either way it is the client's to read.
        return { location: next.href, consent, callback };
      }
      if (providerOrigin && next.pathname.startsWith('/auth/callback/')) {
        callback = { url: next.href, cookie: browser.cookieHeader(next.href) };
        page = await browser.request(next.href);
        if (![302, 303].includes(page.status)) throw new RefusedError(page);
        continue;
      }
      if (isPage(next, issuer, '/login') || isPage(next, issuer, '/authorize')) {
        page = await browser.request(next.href);
        continue;
      }
      throw new Error(`Portcullis sent the browser to ${next.pathname}, a step this driver does not know (a second factor?)`);
    }
    throw new Error(`unexpected answer ${page.status} from ${page.url}: ${textOf(page.text).slice(0, 300)}`);
  }
  throw new Error(`no answer for the client after ${MAX_STEPS} steps`);
}

/// The SDK's OAuthClientProvider (TS SDK v1 and v2), in memory, whose "browser" is this headless
/// person: `signIn` is what authorizeInBrowser is given (a username and password, or a
/// provider). The redirect the browser would deliver to the loopback callback is kept for the
/// client to finish with (`takeCallback`); each authorization is kept with what the person saw.
export class HeadlessClientProvider {
  constructor({ label, cimd, signIn }) {
    this.label = label;
    this.signIn = signIn;
    this.redirect = `http://127.0.0.1:${20000 + (process.pid % 20000)}/callback`;
    if (cimd) this.clientMetadataUrl = cimd;
    this.store = {};
    this.sentStates = [];
    this.authorizations = [];
    this.callback = undefined;
  }
  get redirectUrl() {
    return this.redirect;
  }
  get clientMetadata() {
    return {
      client_name: `Portcullis peers ${this.label}`,
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    const state = randomBytes(16).toString('base64url');
    this.sentStates.push(state);
    return state;
  }
  clientInformation() {
    return this.store.client;
  }
  saveClientInformation(client) {
    this.store.client = client;
  }
  tokens() {
    return this.store.tokens;
  }
  saveTokens(tokens) {
    this.store.tokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this.store.verifier = verifier;
  }
  codeVerifier() {
    return this.store.verifier;
  }
  saveDiscoveryState(state) {
    this.store.discovery = state;
  }
  discoveryState() {
    return this.store.discovery;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'tokens') delete this.store.tokens;
    if (scope === 'all' || scope === 'client') delete this.store.client;
    if (scope === 'all' || scope === 'verifier') delete this.store.verifier;
    if (scope === 'all' || scope === 'discovery') delete this.store.discovery;
  }
  async redirectToAuthorization(authorizationUrl) {
    const answer = await authorizeInBrowser(authorizationUrl.href, this.signIn);
    this.authorizations.push({ request: new URL(authorizationUrl.href), ...answer });
    this.callback = new URL(answer.location);
  }
  takeCallback() {
    const callback = this.callback;
    this.callback = undefined;
    return callback;
  }
}

/// Delivers the redirect to the client's loopback callback, as the browser would.
export async function deliver(location) {
  const response = await fetch(location, { redirect: 'manual', signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  await response.arrayBuffer();
  return response.status;
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { follow: { type: 'boolean', default: false }, deny: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error('usage: PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p node oauth_user.mjs [--follow] [--deny] URL');
    process.exit(2);
  }
  try {
    const { location, consent } = await authorizeInBrowser(positionals[0], {
      username: process.env.PEERS_OAUTH_USERNAME,
      password: process.env.PEERS_OAUTH_PASSWORD,
      decision: values.deny ? 'deny' : 'allow',
    });
    if (consent) console.error(`oauth_user: consent page: ${JSON.stringify(consent)}`);
    console.log(location);
    if (values.follow) {
      const status = await deliver(location);
      console.error(`oauth_user: the client's callback answered ${status}`);
      if (status >= 400) process.exit(1);
    }
  } catch (err) {
    console.error(`oauth_user: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
