// The newcomer's path: the MCP Inspector CLI (a real MCP client, in CLI mode) connects to the
// demo's MCP server through Portcullis's OAuth, and the person signs in as the printed first
// account in a browser — headless Chromium here — changing its one-time password as required,
// and allows the Inspector. Run by tests/browser/newcomer.sh, which starts the demo and reads its
// URL and password from what it prints.
//
// How the Inspector's browser step is driven: with no TTY, the Inspector CLI runs its interactive
// OAuth only when MCP_AUTO_OPEN_ENABLED=true (`assertInteractiveOAuthAllowed` in
// @modelcontextprotocol/inspector/clients/cli/build/index.js). It then starts its loopback callback listener (--callback-url),
// registers itself (RFC 7591), prints "Please navigate to: URL" on stderr and opens the URL with
// the `open` package, whose xdg-open runs $BROWSER when there is no desktop. $BROWSER is
// open-url.sh, which writes the URL to a file; this test opens it in Chromium.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Screenshots, checkPage, clickAndWait, launchChromium, newBrowser, requireEnv } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
// The Inspector pinned in tests/peers (with the Node 22 it needs), which its OAuth suite uses too.
const INSPECTOR = join(HERE, '../peers/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
const DEMO_URL = requireEnv('DEMO_URL');
const DEMO_PASSWORD = requireEnv('DEMO_PASSWORD');
const OUT = requireEnv('BROWSER_OUT');
const HOME = requireEnv('NEWCOMER_HOME');
const MCP_URL = `${DEMO_URL}/servers/demo/mcp`;
const NEW_PASSWORD = 'a newcomer chose this long phrase';

let chromium;
let shots;

before(async () => {
  chromium = await launchChromium();
  shots = new Screenshots(join(OUT, 'screenshots'));
  mkdirSync(HOME, { recursive: true });
});

after(async () => {
  await chromium?.close();
});

/** A loopback port that was free a moment ago, for the Inspector's OAuth callback. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs the Inspector CLI with `args` against the demo server; resolves to its exit code, stdout
 * and stderr (each also written to `${OUT}/inspector-NAME.log`). It keeps its tokens under
 * NEWCOMER_HOME (no keychain here: ~/.mcp-inspector files).
 */
function inspector(name, args, { urlFile } = {}) {
  const env = {
    ...process.env,
    HOME,
    XDG_CONFIG_HOME: join(HOME, '.config'),
    MCP_AUTO_OPEN_ENABLED: 'true',
    // No keychain here: keep tokens in ~/.mcp-inspector/secrets.json, so the second run finds
    // the first one's (the Inspector's default without a keychain is memory, lost on exit).
    MCP_INSPECTOR_SECRET_STORE: 'file',
    BROWSER: join(HERE, 'open-url.sh'),
    NEWCOMER_URL_FILE: urlFile ?? join(HOME, 'unused-url'),
    NO_COLOR: '1',
  };
  // No desktop, so xdg-open uses $BROWSER rather than looking for one.
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const child = spawn(process.execPath, [INSPECTOR, '--cli', MCP_URL, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      writeFileSync(join(OUT, `inspector-${name}.log`), `$ inspector --cli ${MCP_URL} ${args.join(' ')}\n--- exit ${code ?? signal}\n--- stdout\n${stdout}\n--- stderr\n${stderr}\n`);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done, stderr: () => stderr };
}

/** The first URL written to `file`, waiting up to `ms` (while `alive()` holds). */
async function urlFrom(file, alive, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('http'));
      if (line) return line.trim();
    }
    if (!alive()) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return null;
}

const path = (page) => new URL(page.url()).pathname;

test('the MCP Inspector CLI signs in to the demo through OAuth, lists and calls its tools', { timeout: 420_000 }, async () => {
  const browser = await newBrowser(chromium, DEMO_URL);
  const { page } = browser;
  const urlFile = join(HOME, 'authorization-url');
  const callbackPort = await freePort();
  try {
    // 1. The client asks; Portcullis answers 401 and the Inspector starts OAuth.
    const list = inspector(
      'tools-list',
      ['--method', 'tools/list', '--format', 'json', '--callback-url', `http://127.0.0.1:${callbackPort}/oauth/callback`],
      { urlFile },
    );
    let exited = false;
    list.done.then(() => (exited = true));
    const authorizationUrl = await urlFrom(urlFile, () => !exited);
    assert.ok(authorizationUrl, `the Inspector opened no authorization URL; its stderr:\n${list.stderr()}`);
    assert.ok(authorizationUrl.startsWith(`${DEMO_URL}/authorize?`), authorizationUrl);
    const asked = new URL(authorizationUrl).searchParams;
    assert.equal(asked.get('resource'), MCP_URL);
    assert.equal(asked.get('code_challenge_method'), 'S256');

    // 2. The person: sign in as the printed first account, change the one-time password.
    await page.goto(authorizationUrl);
    assert.equal(path(page), '/login');
    assert.equal(await checkPage(browser, shots, 'demo-login'), 'Sign in');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await clickAndWait(page, 'Sign in');
    assert.equal(path(page), '/account/password');
    assert.equal(await checkPage(browser, shots, 'demo-password-change'), 'Change your password');
    await page.getByLabel('Current password').fill(DEMO_PASSWORD);
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await clickAndWait(page, 'Change password');

    // 3. Back at the authorization request: the consent page, then Allow.
    assert.equal(path(page), '/authorize');
    const heading = await checkPage(browser, shots, 'demo-consent');
    assert.match(heading, /^Allow .+ to use demo\?$/);
    await Promise.all([
      page.waitForURL(`http://127.0.0.1:${callbackPort}/oauth/callback?**`),
      page.getByRole('button', { name: 'Allow', exact: true }).click(),
    ]);
    await shots.take(page, 'demo-inspector-callback');

    // 4. The Inspector finishes: tokens, then the tool list.
    const listed = await list.done;
    assert.equal(listed.code, 0, `the Inspector failed:\n${listed.stderr}`);
    // --format json: one object on stdout, the method's result under `result`.
    const tools = JSON.parse(listed.stdout).result.tools.map((t) => t.name);
    for (const name of ['echo', 'add', 'current_time']) {
      assert.ok(tools.includes(name), `no ${name} in ${JSON.stringify(tools)}`);
    }

    // 5. A tool call with the stored tokens, no browser this time.
    const call = inspector('tools-call', [
      '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'message=hello from the Inspector',
      '--format', 'json', '--stored-auth-only',
    ]);
    const called = await call.done;
    assert.equal(called.code, 0, `the Inspector failed:\n${called.stderr}`);
    const { result } = JSON.parse(called.stdout);
    assert.notEqual(result.isError, true, called.stdout);
    assert.match(JSON.stringify(result.content), /hello from the Inspector/);

    // 6. The account page shows the Inspector among the applications with access.
    await page.goto(`${DEMO_URL}/account`);
    assert.equal(await checkPage(browser, shots, 'demo-account'), 'Your account');
    const text = await page.locator('main').innerText();
    assert.match(text, /Username\s+admin\n/);
    const app = page.locator('tbody tr', { hasText: 'MCP Inspector' });
    assert.equal(await app.count(), 1, text);
    assert.equal((await app.locator('td').nth(1).innerText()).trim(), MCP_URL);
  } finally {
    await browser.close();
  }
});
