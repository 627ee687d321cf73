// Portcullis's pages in headless Chromium, as a person uses them: signing in (and a wrong
// password), the first-sign-in password change, enrolling an authenticator app and signing in
// with it or with a recovery code, enrolling a passkey (a CDP virtual authenticator) and signing
// in with it, an account that must enrol a second factor before its authorization request goes
// on, the consent page (Allow and Deny), and the account page (sessions, ending another one,
// revoking an application). Every page visited is checked for
// accessibility basics and for anything the browser refused (CSP) or failed to run, and saved as
// a screenshot. Run by tests/browser/run.sh, which starts Portcullis and sets the environment.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  Authenticator,
  admin,
  Screenshots,
  callbackServer,
  checkPage,
  clickAndWait,
  createUser,
  createUserWithOneTimePassword,
  foreignSite,
  launchChromium,
  newBrowser,
  pkce,
  readQrCode,
  registerClient,
  requireEnv,
  signIn,
} from './lib.mjs';

const BASE = requireEnv('PORTCULLIS_TEST_BASE');
const OUT = requireEnv('BROWSER_OUT');
const RESOURCE = `${BASE}/servers/demo/mcp`;
const PASSWORD = 'violet tractor harbour ninety';
const TEST = { timeout: 180_000 };

let chromium;
let shots;

before(async () => {
  chromium = await launchChromium();
  shots = new Screenshots(`${OUT}/screenshots`);
});

after(async () => {
  await chromium?.close();
});

const path = (page) => new URL(page.url()).pathname;

/** Opens the account page's "Sign out of this browser" and waits for the sign-in page. */
async function signOut(browser) {
  const { page } = browser;
  if (path(page) !== '/account') await page.goto(`${BASE}/account`);
  await clickAndWait(page, 'Sign out of this browser');
  assert.equal(path(page), '/login');
}

/** The texts of the cells of the account page's table under the heading `heading`. */
async function tableRows(page, heading) {
  return page.evaluate((heading) => {
    const h2 = [...document.querySelectorAll('h2')].find((h) => h.textContent.trim() === heading);
    let node = h2?.nextElementSibling;
    while (node && node.tagName !== 'TABLE' && node.tagName !== 'H2') node = node.nextElementSibling;
    if (!node || node.tagName !== 'TABLE') return [];
    return [...node.querySelectorAll('tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()),
    );
  }, heading);
}

test('signing in: labels, keyboard only, a wrong password refused, cookies and headers', TEST, async () => {
  await createUser('alice', PASSWORD);
  const browser = await newBrowser(chromium, BASE);
  const { page, context } = browser;
  try {
    const response = await page.goto(`${BASE}/login`);
    const headers = response.headers();
    assert.match(headers['content-security-policy'], /default-src 'none'/);
    assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(headers['x-frame-options'], 'DENY');
    // No Referer to other sites; same-origin form posts keep their Origin.
    assert.equal(headers['referrer-policy'], 'same-origin');
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(await checkPage(browser, shots, 'login'), 'Sign in');

    // The keyboard alone: the username field has the focus, Tab reaches the password, Enter sends.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    await page.keyboard.type('not the password');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(await checkPage(browser, shots, 'login-wrong-password'), 'Sign in');
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'Invalid username or password.' }).waitFor());
    assert.equal(await page.getByLabel('Username').getAttribute('aria-describedby'), 'form-error');

    // The refused page: the focus is back on the username, then the password, then the button.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent.trim()), 'Sign in');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(browser, shots, 'account-alice'), 'Your account');
    assert.match(await page.locator('main').innerText(), /Signed in as alice/);

    // On plain-http loopback the cookie has no __Host- prefix, but it is HttpOnly and Lax.
    const session = (await context.cookies(BASE)).find((c) => c.name === 'portcullis-session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');

    await signOut(browser);
    assert.equal(await checkPage(browser, shots, 'signed-out'), 'Sign in');
    // Signed out means signed out: the account page sends the browser to sign in again.
    await page.goto(`${BASE}/account`);
    assert.equal(path(page), '/login');
    assert.equal(new URL(page.url()).searchParams.get('return_to'), '/account');
    assert.equal(await checkPage(browser, shots, 'login-return-to-account'), 'Sign in');
  } finally {
    await browser.close();
  }
});

test('a generated one-time password is changed at the first sign-in', TEST, async () => {
  const oneTime = await createUserWithOneTimePassword('bob');
  const browser = await newBrowser(chromium, BASE);
  const { page } = browser;
  try {
    await signIn(browser, shots, { base: BASE, username: 'bob', password: oneTime, name: 'login-bob' });
    assert.equal(path(page), '/account/password');
    assert.equal(await checkPage(browser, shots, 'password-required'), 'Change your password');
    assert.match(await page.locator('main').innerText(), /set by an administrator/);

    // Until it is changed, nothing else opens.
    await page.goto(`${BASE}/account`);
    assert.equal(path(page), '/account/password');
    assert.equal(await checkPage(browser, shots, 'password-still-required'), 'Change your password');

    // A common password is refused with a message tied to the form.
    await page.getByLabel('Current password').fill(oneTime);
    await page.getByLabel('New password').fill('password1234');
    await clickAndWait(page, 'Change password');
    assert.equal(await checkPage(browser, shots, 'password-refused'), 'Change your password');
    assert.ok(await page.getByRole('alert').isVisible());

    await page.getByLabel('Current password').fill(oneTime);
    await page.getByLabel('New password').fill(PASSWORD);
    await clickAndWait(page, 'Change password');
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(browser, shots, 'account-bob'), 'Your account');

    await signOut(browser);
    // The one-time password works no more; the new one does.
    await signIn(browser, shots, { base: BASE, username: 'bob', password: oneTime, name: 'login-bob-old' });
    assert.equal(path(page), '/login');
    assert.ok(await page.getByRole('alert').isVisible());
    await signIn(browser, shots, { base: BASE, username: 'bob', password: PASSWORD, name: 'login-bob-new' });
    assert.equal(path(page), '/account');
  } finally {
    await browser.close();
  }
});

test('an authenticator app is enrolled, then asked for at sign-in; a recovery code works once', TEST, async () => {
  await createUser('carol', PASSWORD);
  const browser = await newBrowser(chromium, BASE);
  const { page } = browser;
  try {
    await signIn(browser, shots, { base: BASE, username: 'carol', password: PASSWORD, name: 'login-carol' });
    assert.equal(path(page), '/account');
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Second factors' }).click()]);
    assert.equal(await checkPage(browser, shots, 'mfa-none'), 'Second factors');
    assert.match(await page.locator('main').innerText(), /You have none set up\./);

    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('link', { name: 'Add an authenticator app' }).click(),
    ]);
    assert.equal(await checkPage(browser, shots, 'totp-enrol'), 'Set up an authenticator app');
    // The QR code is drawn (an inline SVG with a name), and the key is there to type.
    const qr = page.getByRole('img', { name: 'QR code for your authenticator app' });
    assert.ok(await qr.isVisible());
    const box = await qr.boundingBox();
    assert.ok(box && box.width >= 150 && box.height >= 150, `QR code size ${JSON.stringify(box)}`);
    const key = await page.locator('code#secret').innerText();
    // The QR code holds the same key, in the URI authenticator apps read.
    const uri = new URL(await readQrCode(qr));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(uri.searchParams.get('secret'), key.replace(/\s+/g, ''));
    assert.equal(uri.searchParams.get('issuer'), 'Portcullis');
    assert.equal(decodeURIComponent(uri.pathname), `/Portcullis:carol@${new URL(BASE).hostname}`);
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
    const app = new Authenticator(key);

    // A wrong code: refused, same key shown again.
    await page.getByLabel('Code from the app').fill('000000');
    await clickAndWait(page, 'Turn on');
    assert.equal(await checkPage(browser, shots, 'totp-wrong-code'), 'Set up an authenticator app');
    assert.ok(await page.getByRole('alert').isVisible());
    assert.equal(await page.locator('code#secret').innerText(), key);

    await page.getByLabel('Name it').fill('phone');
    await page.getByLabel('Code from the app').fill(await app.code());
    await clickAndWait(page, 'Turn on');
    assert.equal(await checkPage(browser, shots, 'recovery-codes'), 'Your recovery codes');
    const codes = await page.getByRole('list', { name: 'Recovery codes' }).locator('code').allInnerTexts();
    assert.equal(codes.length, 10, JSON.stringify(codes));
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('link', { name: 'I have saved them: continue' }).click(),
    ]);
    assert.equal(path(page), '/account');
    assert.match(await page.locator('main').innerText(), /Second factors: 1 set up/);

    // Signing in now asks for a code from the app.
    await signOut(browser);
    await signIn(browser, shots, { base: BASE, username: 'carol', password: PASSWORD, name: 'login-carol-2' });
    assert.equal(path(page), '/login/mfa');
    assert.equal(await checkPage(browser, shots, 'mfa-step'), 'Confirm it is you');
    await page.getByLabel('Authentication code').fill('123456');
    await clickAndWait(page, 'Continue');
    assert.equal(await checkPage(browser, shots, 'mfa-step-wrong'), 'Confirm it is you');
    assert.ok(await page.getByRole('alert').isVisible());
    await page.getByLabel('Authentication code').fill(await app.code());
    await clickAndWait(page, 'Continue');
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(browser, shots, 'account-carol-mfa'), 'Your account');
    const sessions = await tableRows(page, 'Where you are signed in');
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    assert.equal(sessions[0][2], 'password and authentication code');

    // A recovery code in place of the app, once.
    await signOut(browser);
    await signIn(browser, shots, { base: BASE, username: 'carol', password: PASSWORD, name: 'login-carol-3' });
    assert.equal(path(page), '/login/mfa');
    await page.getByLabel('Authentication code').fill(codes[0]);
    await clickAndWait(page, 'Continue');
    assert.equal(path(page), '/account');
    await page.goto(`${BASE}/account/mfa`);
    assert.equal(await checkPage(browser, shots, 'mfa-one-factor'), 'Second factors');
    assert.match(await page.locator('main').innerText(), /9 recovery codes are left/);

    await signOut(browser);
    await signIn(browser, shots, { base: BASE, username: 'carol', password: PASSWORD, name: 'login-carol-4' });
    await page.getByLabel('Authentication code').fill(codes[0]);
    await clickAndWait(page, 'Continue');
    assert.equal(path(page), '/login/mfa');
    assert.equal(await checkPage(browser, shots, 'recovery-code-reused'), 'Confirm it is you');
    assert.match(await page.getByRole('alert').innerText(), /used already/);
  } finally {
    await browser.close();
  }
});

/** An MCP client's authorization request for the demo server, with its PKCE verifier. */
function authorizationRequest(clientId, redirectUri, state) {
  const { verifier, challenge } = pkce();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource: RESOURCE,
  });
  return { url: `${BASE}/authorize?${query}`, verifier };
}

/** Exchanges a code for tokens at /token, as the client would. */
async function exchange(code, clientId, redirectUri, verifier) {
  const response = await fetch(`${BASE}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: clientId,
      code_verifier: verifier,
      resource: RESOURCE,
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

/** An MCP `initialize` with `token` on the demo server; resolves to the HTTP status. */
async function initialize(token) {
  const response = await fetch(RESOURCE, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'browser-suite', version: '0' },
      },
    }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Signs in (when asked to) and arrives at the consent page of `url`. */
async function consentPage(browser, url, username, name) {
  const { page } = browser;
  await page.goto(url);
  if (path(page) === '/login') {
    assert.match(new URL(page.url()).searchParams.get('return_to') ?? '', /^\/authorize\?/);
    await signIn(browser, shots, { base: BASE, username, password: PASSWORD, name: `${name}-login` });
  }
  assert.equal(path(page), '/authorize');
  assert.match(await checkPage(browser, shots, name), /^Allow Browser Test Client to use demo\?$/);
}

/**
 * Clicks `button` ("Allow" or "Deny") on the consent page and follows the browser to the client;
 * resolves to the query the client's redirect URI received.
 */
async function decide(browser, callback, button, name) {
  const { page } = browser;
  await Promise.all([
    page.waitForURL(`${callback.url}?**`),
    page.getByRole('button', { name: button, exact: true }).click(),
  ]);
  await shots.take(page, name);
  return callback.hits.at(-1).searchParams;
}

/**
 * A CDP virtual authenticator for `browser`'s page: a platform authenticator (like a laptop's)
 * that keeps discoverable credentials and verifies its user (a PIN or fingerprint, always
 * given), touched automatically.
 */
async function virtualAuthenticator(browser) {
  const cdp = await browser.context.newCDPSession(browser.page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

/** The claims of a JWT, unverified (the test only reads what Portcullis wrote). */
function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

test('a passkey is enrolled on the account page, then used as the second factor', TEST, async () => {
  await createUser('grace', PASSWORD);
  const browser = await newBrowser(chromium, BASE);
  const { page } = browser;
  const authenticator = await virtualAuthenticator(browser);
  const callback = await callbackServer();
  const clientId = await registerClient(BASE, callback.url);
  try {
    await signIn(browser, shots, { base: BASE, username: 'grace', password: PASSWORD, name: 'login-grace' });
    assert.equal(path(page), '/account');
    // Pages without a passkey form keep a policy with no script at all.
    const account = await page.goto(`${BASE}/account`);
    assert.doesNotMatch(account.headers()['content-security-policy'], /script-src/);

    await page.goto(`${BASE}/account/mfa`);
    const enrol = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('link', { name: 'Add a passkey' }).click(),
    ]);
    assert.equal(path(page), '/account/mfa/passkey');
    // This page runs this origin's script, and nothing else.
    assert.match(enrol[0].headers()['content-security-policy'], /script-src 'self';/);
    assert.doesNotMatch(enrol[0].headers()['content-security-policy'], /unsafe-inline'[^;]*script|script-src[^;]*unsafe/);
    assert.equal(await checkPage(browser, shots, 'passkey-enrol'), 'Add a passkey');

    // The script: a long-cached JavaScript file of this origin.
    const script = await page.locator('script[src]').getAttribute('src');
    assert.match(script, /\/static\/passkey\.js\?v=[0-9a-f]{16}$/);
    const served = await fetch(new URL(script, BASE));
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(served.headers.get('cache-control'), /max-age=31536000/);
    assert.equal(served.headers.get('x-content-type-options'), 'nosniff');

    await page.getByLabel('Name it').fill('laptop');
    await clickAndWait(page, 'Add passkey');
    assert.equal(await checkPage(browser, shots, 'passkey-recovery-codes'), 'Your recovery codes');
    const made = await authenticator.credentials();
    assert.equal(made.length, 1, 'the authenticator holds one passkey');
    assert.equal(made[0].rpId, new URL(BASE).hostname);
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('link', { name: 'I have saved them: continue' }).click(),
    ]);
    assert.equal(path(page), '/account');
    await page.goto(`${BASE}/account/mfa`);
    assert.equal(await checkPage(browser, shots, 'mfa-passkey'), 'Second factors');
    const factors = await page.locator('table tbody tr').allInnerTexts();
    assert.equal(factors.length, 1, JSON.stringify(factors));
    assert.match(factors[0], /laptop\s+Passkey/);

    // Signing in now offers the passkey at the second-factor step.
    await signOut(browser);
    await signIn(browser, shots, { base: BASE, username: 'grace', password: PASSWORD, name: 'login-grace-2' });
    assert.equal(path(page), '/login/mfa');
    assert.equal(await checkPage(browser, shots, 'mfa-step-passkey'), 'Confirm it is you');
    // The code form is still there for a recovery code.
    assert.ok(await page.getByLabel('Authentication code').isVisible());
    await clickAndWait(page, 'Use a passkey');
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(browser, shots, 'account-grace-passkey'), 'Your account');
    const sessions = await tableRows(page, 'Where you are signed in');
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    assert.equal(sessions[0][2], 'password and passkey');
    const used = await authenticator.credentials();
    assert.ok(used[0].signCount > made[0].signCount, `the signature counter moved: ${made[0].signCount} → ${used[0].signCount}`);

    // The tokens say how: a hardware-bound key, the user verified, two factors.
    const request = authorizationRequest(clientId, callback.url, 'state-passkey');
    await consentPage(browser, request.url, 'grace', 'consent-grace');
    const back = await decide(browser, callback, 'Allow', 'consent-grace-allowed');
    const tokens = await exchange(back.get('code'), clientId, callback.url, request.verifier);
    const token = claims(tokens.access_token);
    assert.deepEqual([...token.amr].sort(), ['hwk', 'mfa', 'pwd', 'user'], JSON.stringify(token));
    assert.equal(token.acr, 'mfa');
  } finally {
    await browser.close();
    await callback.close();
  }
});

test('an account that must have a second factor enrols one, then its authorization request goes on', TEST, async () => {
  await admin(
    ['user', 'create', '--username', 'heidi', '--email', 'heidi@example.com', '--tenant', 'strict', '--password-stdin'],
    { stdin: `${PASSWORD}\n` },
  );
  const callback = await callbackServer();
  const clientId = await registerClient(BASE, callback.url);
  const browser = await newBrowser(chromium, BASE);
  const { page } = browser;
  try {
    const request = authorizationRequest(clientId, callback.url, 'state-required');
    await page.goto(request.url);
    assert.equal(path(page), '/login');
    await signIn(browser, shots, { base: BASE, username: 'heidi', password: PASSWORD, name: 'login-heidi' });
    // Straight to enrolling, the authorization request kept for afterwards.
    assert.equal(path(page), '/account/mfa');
    assert.match(new URL(page.url()).searchParams.get('return_to') ?? '', /^\/authorize\?/);
    assert.equal(await checkPage(browser, shots, 'mfa-required'), 'Second factors');
    assert.match(await page.locator('main').innerText(), /Your account must have a second factor/);
    const enrolUrl = page.url();

    // Nothing else opens until then: neither the account page nor the authorization request.
    await page.goto(`${BASE}/account`);
    assert.equal(path(page), '/account/mfa');
    await page.goto(request.url);
    assert.equal(path(page), '/account/mfa');

    await page.goto(enrolUrl);
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('link', { name: 'Add an authenticator app' }).click(),
    ]);
    assert.equal(await checkPage(browser, shots, 'mfa-required-totp'), 'Set up an authenticator app');
    const app = new Authenticator(await page.locator('code#secret').innerText());
    await page.getByLabel('Code from the app').fill(await app.code());
    await clickAndWait(page, 'Turn on');
    assert.equal(await checkPage(browser, shots, 'mfa-required-recovery-codes'), 'Your recovery codes');
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('link', { name: 'I have saved them: continue' }).click(),
    ]);
    // Back to the authorization request, which goes on to consent.
    assert.equal(path(page), '/authorize');
    assert.match(await checkPage(browser, shots, 'mfa-required-consent'), /^Allow Browser Test Client to use demo\?$/);
    const back = await decide(browser, callback, 'Allow', 'mfa-required-allowed');
    assert.equal(back.get('state'), 'state-required');
    const tokens = await exchange(back.get('code'), clientId, callback.url, request.verifier);
    const token = claims(tokens.access_token);
    assert.deepEqual([...token.amr].sort(), ['mfa', 'otp', 'pwd'], JSON.stringify(token));
    assert.equal(token.acr, 'mfa');
  } finally {
    await browser.close();
    await callback.close();
  }
});

test('consent: Allow sends code, state and iss back; Deny sends access_denied', TEST, async () => {
  await createUser('dave', PASSWORD);
  const callback = await callbackServer();
  const clientId = await registerClient(BASE, callback.url);
  const browser = await newBrowser(chromium, BASE);
  const { page } = browser;
  try {
    const allow = authorizationRequest(clientId, callback.url, 'state-allow');
    await consentPage(browser, allow.url, 'dave', 'consent');
    const text = await page.locator('main').innerText();
    assert.match(text, /Signed in as dave/);
    assert.match(text, /It will receive your authorization at\s+127\.0\.0\.1\n/);
    assert.match(text, /registered itself/);
    assert.ok(await page.getByRole('button', { name: 'Allow', exact: true }).isVisible());
    assert.ok(await page.getByRole('button', { name: 'Deny', exact: true }).isVisible());

    const back = await decide(browser, callback, 'Allow', 'consent-allowed-client');
    assert.equal(back.get('state'), 'state-allow');
    assert.equal(back.get('iss'), BASE);
    assert.equal(back.get('error'), null);
    const code = back.get('code');
    assert.ok(code, `a code in ${back}`);

    // The code is good: a token for the demo server that opens an MCP session.
    const tokens = await exchange(code, clientId, callback.url, allow.verifier);
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(await initialize(tokens.access_token), 200);
    assert.equal(await initialize('not-a-token'), 401);

    // Signed in already: straight to the consent page, and this time Deny.
    const deny = authorizationRequest(clientId, callback.url, 'state-deny');
    await consentPage(browser, deny.url, 'dave', 'consent-again');
    const denied = await decide(browser, callback, 'Deny', 'consent-denied-client');
    assert.equal(denied.get('error'), 'access_denied');
    assert.equal(denied.get('state'), 'state-deny');
    assert.equal(denied.get('iss'), BASE);
    assert.equal(denied.get('code'), null);
  } finally {
    await browser.close();
    await callback.close();
  }
});

test('the account page: sessions listed, another one ended, an application revoked', TEST, async () => {
  await createUser('erin', PASSWORD);
  const laptop = await newBrowser(chromium, BASE);
  const phone = await newBrowser(chromium, BASE);
  const callback = await callbackServer();
  try {
    await signIn(phone, shots, { base: BASE, username: 'erin', password: PASSWORD, name: 'login-erin-phone' });
    await signIn(laptop, shots, { base: BASE, username: 'erin', password: PASSWORD, name: 'login-erin-laptop' });
    const { page } = laptop;
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(laptop, shots, 'account-two-sessions'), 'Your account');
    let sessions = await tableRows(page, 'Where you are signed in');
    assert.equal(sessions.length, 2, JSON.stringify(sessions));
    assert.equal(sessions.filter((row) => row[0].includes('(this browser)')).length, 1);

    // End the phone's session from the laptop.
    const other = page.locator('tbody tr', { hasNotText: '(this browser)' }).filter({ has: page.getByRole('button', { name: 'Sign out' }) });
    await Promise.all([page.waitForNavigation(), other.getByRole('button', { name: 'Sign out', exact: true }).click()]);
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(laptop, shots, 'account-one-session'), 'Your account');
    sessions = await tableRows(page, 'Where you are signed in');
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    assert.match(sessions[0][0], /\(this browser\)/);
    await phone.page.goto(`${BASE}/account`);
    assert.equal(path(phone.page), '/login', 'the ended session is signed out');
    assert.equal(await checkPage(phone, shots, 'phone-signed-out'), 'Sign in');

    // An application with access, then without.
    assert.match(await page.locator('main').innerText(), /No application can act for you\./);
    const clientId = await registerClient(BASE, callback.url);
    const request = authorizationRequest(clientId, callback.url, 'state-revoke');
    await consentPage(laptop, request.url, 'erin', 'consent-erin');
    const back = await decide(laptop, callback, 'Allow', 'consent-erin-allowed-client');
    const tokens = await exchange(back.get('code'), clientId, callback.url, request.verifier);
    assert.equal(await initialize(tokens.access_token), 200);

    await page.goto(`${BASE}/account`);
    assert.equal(await checkPage(laptop, shots, 'account-with-app'), 'Your account');
    const apps = await tableRows(page, 'Applications with access');
    assert.equal(apps.length, 1, JSON.stringify(apps));
    assert.equal(apps[0][0], 'Browser Test Client');
    assert.equal(apps[0][1], RESOURCE);
    await clickAndWait(page, 'Revoke access');
    assert.equal(path(page), '/account');
    assert.equal(await checkPage(laptop, shots, 'account-app-revoked'), 'Your account');
    assert.match(await page.locator('main').innerText(), /No application can act for you\./);
    // Its tokens stop working at once.
    assert.equal(await initialize(tokens.access_token), 401);
    const refreshed = await fetch(`${BASE}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }),
    });
    assert.equal(refreshed.status, 400);
    assert.equal((await refreshed.json()).error, 'invalid_grant');
  } finally {
    await laptop.close();
    await phone.close();
    await callback.close();
  }
});

test('another site can neither frame the pages nor post their forms', TEST, async () => {
  await createUser('frank', PASSWORD);
  const browser = await newBrowser(chromium, BASE);
  const { page } = browser;
  const host = new URL(BASE).hostname;
  const framing = await foreignSite(
    `<!doctype html><html lang="en"><title>Framing</title><h1>Framing</h1><iframe title="Portcullis" src="${BASE}/account"></iframe></html>`,
    host,
  );
  // The same site as Portcullis (so the SameSite=Lax cookie rides along), another origin, no
  // token.
  const posting = await foreignSite(
    `<!doctype html><html lang="en"><title>Posting</title><h1>Posting</h1><form method="post" action="${BASE}/logout"><input type="hidden" name="csrf_token" value="guessed"></form><script>document.forms[0].submit()</script></html>`,
    host,
  );
  try {
    await signIn(browser, shots, { base: BASE, username: 'frank', password: PASSWORD, name: 'login-frank' });
    assert.equal(path(page), '/account');

    // Framed: the browser refuses to show the page (CSP frame-ancestors, X-Frame-Options).
    await page.goto(framing.url); // waits for the load event, which waits for the frame
    await shots.take(page, 'framed-account');
    const frame = page.frames().find((f) => f !== page.mainFrame());
    assert.ok(frame, 'an iframe');
    const framed = await frame.evaluate(() => document.querySelector('h1')?.textContent ?? null).catch(() => null);
    assert.notEqual(framed, 'Your account', `the account page showed in a frame (${frame.url()})`);

    // Posted from the other site: refused before anything happens, and still signed in.
    await Promise.all([page.waitForURL(`${BASE}/logout`), page.goto(posting.url)]);
    assert.equal(await checkPage(browser, shots, 'cross-site-post-refused'), '403 Forbidden');
    assert.match(await page.locator('main').innerText(), /not sent from a Portcullis page/);
    await page.goto(`${BASE}/account`);
    assert.equal(path(page), '/account', 'the forged sign-out did not sign out');
  } finally {
    await browser.close();
    await framing.close();
    await posting.close();
  }
});
