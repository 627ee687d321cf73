// The MCP Inspector CLI (`mcp-inspector --cli`, @modelcontextprotocol/inspector) signing in to an
// MCP server behind Portcullis's OAuth, non-interactively. The Inspector runs its own OAuth
// (discovery, client ID metadata document or dynamic registration, PKCE, state, a loopback
// callback server) and opens the authorization URL in "the browser": with
// MCP_AUTO_OPEN_ENABLED=true it does so without a terminal, through the `open` package, whose
// xdg-open runs $BROWSER — here oauth_browser.sh, the headless person who signs in, clicks Allow
// and delivers the redirect to the Inspector's callback. Its tokens go to a secrets file of this
// run, so the later calls use them with --stored-auth-only, as CI scripts are told to. One line
// per case, `ok LABEL: CASE` or `FAIL LABEL: CASE: why`; exit status 1 when any case failed.
//
//   PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p node inspector-oauth-client.mjs [--cimd URL] URL
//
// Without --cimd the Inspector registers itself (RFC 7591).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Cases, assert, textOf } from './cases.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const inspector = join(here, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
const { values, positionals } = parseArgs({ options: { cimd: { type: 'string' } }, allowPositionals: true });
const [url] = positionals;
if (!url) {
  console.error('usage: node inspector-oauth-client.mjs [--cimd URL] URL');
  process.exit(2);
}
const label = `inspector-${values.cimd ? 'cimd' : 'dcr'}`;

const cases = new Cases(label);

/// A port that was free on 127.0.0.1 a moment ago, for the Inspector's OAuth callback listener.
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const home = mkdtempSync(join(tmpdir(), 'portcullis-inspector-'));
const browserLog = join(home, 'browser.log');
const callbackUrl = `http://127.0.0.1:${await freePort()}/oauth/callback`;
const env = {
  ...process.env,
  HOME: home,
  MCP_STORAGE_DIR: join(home, 'storage'),
  // Tokens kept in a file of this run (unencrypted, mode 0600) so a second invocation finds them.
  MCP_INSPECTOR_SECRET_STORE: 'file',
  MCP_INSPECTOR_SECRET_FILE: join(home, 'secrets.json'),
  MCP_AUTO_OPEN_ENABLED: 'true',
  BROWSER: join(here, 'oauth_browser.sh'),
  PEERS_NODE: process.execPath,
  PEERS_BROWSER_LOG: browserLog,
  NO_COLOR: '1',
};

/// One Inspector invocation; resolves with its JSON result (--format json) and stderr.
function run(args) {
  const argv = [inspector, '--cli', url, '--transport', 'http', '--format', 'json', '--callback-url', callbackUrl, ...args];
  if (values.cimd) argv.push('--client-metadata-url', values.cimd);
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, argv, { env, cwd: home, timeout: 60_000 }, (err, stdout, stderr) => {
      let json;
      try {
        json = JSON.parse(stdout);
      } catch {}
      if (err || !json) {
        reject(new Error(`mcp-inspector ${args.join(' ')} failed (${err?.code ?? 'no JSON'}): ${stdout} ${stderr}`));
      } else {
        resolve({ json, stderr });
      }
    });
    child.stdin.end();
  });
}
function browserOpened() {
  try {
    return readFileSync(browserLog, 'utf8').split('\n').filter((line) => line.startsWith('open ')).map((line) => line.slice(5));
  } catch {
    return [];
  }
}

await cases.check('tools/list signs in through the browser (Allow) and lists echo and get-sum', async () => {
  const { json } = await run(['--method', 'tools/list']);
  const names = (json.result?.tools ?? []).map((t) => t.name);
  assert(names.includes('echo') && names.includes('get-sum'), `tools were ${JSON.stringify(names)}; ${JSON.stringify(json).slice(0, 300)}`);
  const opened = browserOpened();
  assert(opened.length === 1, `the browser was opened ${opened.length} times`);
  const request = new URL(opened[0]).searchParams;
  assert(request.get('code_challenge_method') === 'S256', `code_challenge_method ${request.get('code_challenge_method')}`);
  assert(request.get('resource') === url, `resource ${request.get('resource')}`);
  assert(request.get('redirect_uri') === callbackUrl, `redirect_uri ${request.get('redirect_uri')}`);
  if (values.cimd) assert(request.get('client_id') === values.cimd, `client_id ${request.get('client_id')}, expected the metadata document`);
  else assert(request.get('client_id')?.startsWith('client_'), `client_id ${request.get('client_id')}, expected a registration`);
  const log = readFileSync(browserLog, 'utf8');
  assert(/the client's callback answered 200/.test(log), `the Inspector's callback did not take the redirect: ${log}`);
});
await cases.check('tools/call echo with the stored token (--stored-auth-only)', async () => {
  const message = `hello from ${label} ✓`;
  const { json } = await run(['--stored-auth-only', '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', `message=${message}`]);
  assert(textOf(json.result) === `Echo: ${message}`, `got ${JSON.stringify(json).slice(0, 300)}`);
  assert(browserOpened().length === 1, 'the browser was opened again');
});
await cases.check('tools/call get-sum with the stored token (--stored-auth-only)', async () => {
  const { json } = await run(['--stored-auth-only', '--method', 'tools/call', '--tool-name', 'get-sum', '--tool-arg', 'a=2', 'b=40']);
  assert(/\b42\b/.test(textOf(json.result)), `got ${JSON.stringify(json).slice(0, 300)}`);
});

rmSync(home, { recursive: true, force: true });
cases.exit();
