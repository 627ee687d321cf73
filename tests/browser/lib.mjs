// Helpers shared by the browser suites: Debian's Chromium under playwright-core, screenshots of
// every page, the page checks every visit gets (accessibility basics, no CSP violation, no
// script error), TOTP codes computed here from the key a page shows (RFC 6238 with node:crypto),
// PKCE, a loopback OAuth callback, and the `portcullis admin` command line.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

import jsQR from 'jsqr';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';

/** Where Debian's chromium package puts the browser (no browser download: see README). */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Every wait is bounded: a page that never comes fails the test instead of hanging CI. */
export const TIMEOUT_MS = 15_000;

export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through tests/browser/run.sh)`);
  return value;
}

// --- the browser ---------------------------------------------------------------------------

/**
 * Headless Chromium with the flags this machine's closed network needs (no background
 * networking, no component updates, no sync; --no-sandbox because CI runs as root).
 */
export async function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Screenshots go to `${dir}/NN-name.png`, numbered in the order they were taken across the run,
 * so the folder reads as the story of the run.
 */
export class Screenshots {
  constructor(dir) {
    this.dir = dir;
    this.count = 0;
    mkdirSync(dir, { recursive: true });
  }

  async take(page, name) {
    this.count += 1;
    const file = join(this.dir, `${String(this.count).padStart(3, '0')}-${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }
}

/**
 * A browser context (its own cookie jar: one "browser" of a person) whose page records what a
 * real browser complains about on Portcullis's pages (at `base`; a client's callback page is
 * not ours to judge): CSP violations and other console errors, uncaught script errors,
 * anything else the page made the browser fetch that failed. `problems()` hands them over
 * (and forgets them); `checkPage` asserts there are none.
 */
export async function newBrowser(chromiumBrowser, base) {
  const context = await chromiumBrowser.newContext({ locale: 'en-GB' });
  context.setDefaultTimeout(TIMEOUT_MS);
  context.setDefaultNavigationTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  const origin = new URL(base).origin;
  const ours = () => page.url().startsWith(`${origin}/`);
  const problems = [];
  page.on('console', (message) => {
    if (!ours()) return;
    // A page answered with an error status (a refused sign-in is a 401 page) is logged by
    // Chromium as "Failed to load resource" for the page itself: not a problem. The same for
    // anything else the page made the browser fetch (the icon, say) is one.
    if (/^Failed to load resource/.test(message.text()) && message.location().url === page.url()) return;
    if (message.type() === 'error' || /content security policy/i.test(message.text())) {
      problems.push(`console ${message.type()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => ours() && problems.push(`page error: ${error.message}`));
  // Anything a page loads besides itself (our pages load nothing) must load.
  page.on('response', (response) => {
    if (ours() && !response.request().isNavigationRequest() && response.status() >= 400) {
      problems.push(`${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });
  page.on('requestfailed', (request) => {
    if (ours() && !request.isNavigationRequest()) {
      problems.push(`failed: ${request.method()} ${request.url()} (${request.failure()?.errorText})`);
    }
  });
  return {
    context,
    page,
    problems: () => problems.splice(0),
    close: () => context.close(),
  };
}

/**
 * The checks every page of ours gets, then a screenshot: one h1, a language and a title, a label
 * for every field a person fills in, a name for every button, and nothing the browser refused
 * or failed to run. Returns the h1's text.
 */
export async function checkPage(browser, shots, name) {
  const { page } = browser;
  await page.waitForLoadState('load');
  const facts = await page.evaluate(() => {
    const fields = [...document.querySelectorAll('input, select, textarea')].filter(
      (el) => el.type !== 'hidden',
    );
    const unlabelled = fields
      .filter((el) => {
        const byFor = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
        const wrapped = el.closest('label');
        return !(byFor || wrapped || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'));
      })
      .map((el) => el.name || el.id || el.outerHTML);
    const nameless = [...document.querySelectorAll('button')]
      .filter((b) => !(b.textContent.trim() || b.getAttribute('aria-label')))
      .map((b) => b.outerHTML);
    const describedBy = fields
      .map((el) => el.getAttribute('aria-describedby'))
      .filter(Boolean)
      .flatMap((ids) => ids.split(/\s+/))
      .filter((id) => !document.getElementById(id));
    // A form's error is announced (role=alert) and tied to the fields it is about.
    const error = document.getElementById('form-error');
    const errorTied =
      !error ||
      (error.getAttribute('role') === 'alert' &&
        fields.some((el) => (el.getAttribute('aria-describedby') ?? '').split(/\s+/).includes('form-error')));
    return {
      errorTied,
      h1: [...document.querySelectorAll('h1')].map((h) => h.textContent.trim()),
      lang: document.documentElement.lang,
      title: document.title,
      unlabelled,
      nameless,
      describedBy,
    };
  });
  await shots.take(page, name);
  assert.equal(facts.h1.length, 1, `${name}: exactly one h1, found ${JSON.stringify(facts.h1)}`);
  assert.equal(facts.lang, 'en', `${name}: <html lang>`);
  assert.ok(facts.title.trim().length > 0, `${name}: a title`);
  assert.deepEqual(facts.unlabelled, [], `${name}: fields without a label`);
  assert.deepEqual(facts.nameless, [], `${name}: buttons without a name`);
  assert.deepEqual(facts.describedBy, [], `${name}: aria-describedby naming no element`);
  assert.ok(facts.errorTied, `${name}: the form's error is not an alert tied to a field`);
  assert.deepEqual(browser.problems(), [], `${name}: the browser reported problems`);
  return facts.h1[0];
}

/**
 * Signs in on /login by label, as a person would; leaves the browser wherever that leads, and
 * checks (and photographs) that page too.
 */
export async function signIn(browser, shots, { base, username, password, name = 'sign-in' }) {
  const { page } = browser;
  if (!page.url().includes('/login')) {
    await page.goto(`${base}/login`);
  }
  await checkPage(browser, shots, name);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
  await checkPage(browser, shots, `${name}-then`);
}

/** Submits a form by clicking the button named `name`, and waits for the next page. */
export async function clickAndWait(page, name) {
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name, exact: true }).click()]);
}

/** The text of the QR code `locator` shows, read from a screenshot of it as a phone would. */
export async function readQrCode(locator) {
  const png = PNG.sync.read(await locator.screenshot());
  const found = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  return found?.data ?? null;
}

// --- TOTP (RFC 6238) -------------------------------------------------------------------------

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, unpadded, spaces ignored (the page shows the key in groups of four). */
export function base32Decode(text) {
  const clean = text.replace(/\s+/g, '').replace(/=+$/, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The six-digit HOTP code (RFC 4226 §5.3) of `key` at counter `step`. */
export function hotp(key, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

const STEP_SECONDS = 30;
const stepNow = () => Math.floor(Date.now() / 1000 / STEP_SECONDS);

/**
 * An authenticator app for one key: each code it gives is for a later time step than the last
 * one (the server accepts every code once, and one step of drift either side), waiting for the
 * clock when the next usable step is not yet within that drift.
 */
export class Authenticator {
  constructor(keyText) {
    this.key = base32Decode(keyText);
    this.lastStep = -1;
  }

  async code() {
    let step = Math.max(stepNow(), this.lastStep + 1);
    while (step > stepNow() + 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    this.lastStep = step;
    return hotp(this.key, step);
  }
}

// --- OAuth -----------------------------------------------------------------------------------

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

/**
 * A client's loopback redirect URI: records each callback's query and answers a small page, so
 * the browser really lands on it (as it would on an MCP client's).
 */
export async function callbackServer() {
  const hits = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    // Browsers also ask every new host for /favicon.ico.
    if (url.pathname === '/callback') hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Client</title><h1>Back at the client</h1></html>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/callback`,
    hits,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Another web site on a loopback port of its own, reached as `host` (the same site as
 * Portcullis when that is Portcullis's host, but another origin): it answers every path with
 * `html`.
 */
export async function foreignSite(html, host = '127.0.0.1') {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://${host}:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Registers a public client by RFC 7591 (as MCP clients do); returns its client_id. */
export async function registerClient(base, redirectUri, name = 'Browser Test Client') {
  const response = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return (await response.json()).client_id;
}

// --- the command line ------------------------------------------------------------------------

/**
 * `portcullis admin --config CONFIG --json ARGS…` with `stdin`; resolves to its JSON output.
 */
export function admin(args, { stdin } = {}) {
  const bin = requireEnv('PORTCULLIS_BIN');
  const config = requireEnv('PORTCULLIS_TEST_CONFIG');
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      ['admin', '--config', config, '--json', ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`portcullis admin ${args.join(' ')}: ${error.message}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(stdout));
      },
    );
    child.stdin.end(stdin ?? '');
  });
}

/** An account with the password `password` (`user create … --password-stdin`). */
export function createUser(username, password) {
  return admin(
    ['user', 'create', '--username', username, '--email', `${username}@example.com`, '--password-stdin'],
    { stdin: `${password}\n` },
  );
}

/** An account with a generated one-time password; resolves to that password. */
export async function createUserWithOneTimePassword(username) {
  const created = await admin([
    'user',
    'create',
    '--username',
    username,
    '--email',
    `${username}@example.com`,
    '--generate-password',
  ]);
  assert.ok(created.password, `no one-time password in ${JSON.stringify(created)}`);
  return created.password;
}
