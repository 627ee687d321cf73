// Client ID metadata documents for the OAuth client suites, served over https on 127.0.0.1 as a
// client's own web site would serve them: GET /clients/NAME.json answers the document whose
// `client_id` is that very URL, for a public native client that receives its answer on a
// loopback callback (any port, RFC 8252 §7.3). Every request is logged as one JSON line, so a
// suite can prove that Portcullis fetched the document (the client used CIMD, not registration).
//
//   node cimd_server.mjs --port P --cert cert.pem --key key.pem [--log requests.jsonl]
//
// The MCP SDKs accept only https metadata URLs; the certificate is signed by a test CA that the
// suite hands Portcullis (SSL_CERT_FILE), so this is real TLS. No other file is served.
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    log: { type: 'string' },
  },
});
if (!values.port || !values.cert || !values.key) {
  console.error('usage: node cimd_server.mjs --port P --cert cert.pem --key key.pem [--log requests.jsonl]');
  process.exit(2);
}
const port = Number(values.port);
const origin = `https://127.0.0.1:${port}`;

function documentFor(name) {
  return {
    client_id: `${origin}/clients/${name}.json`,
    client_name: `Portcullis peers ${name}`,
    // The SDK clients listen on /callback, the Inspector CLI on /oauth/callback.
    redirect_uris: ['http://127.0.0.1/callback', 'http://127.0.0.1/oauth/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
  };
}

const server = createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) }, (req, res) => {
  const match = /^\/clients\/([a-z0-9-]{1,64})\.json$/.exec(req.url ?? '');
  if (values.log) {
    appendFileSync(values.log, `${JSON.stringify({ method: req.method, path: req.url, ua: req.headers['user-agent'] ?? null })}\n`);
  }
  if (req.method !== 'GET' || !match) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const body = JSON.stringify(documentFor(match[1]));
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(body);
});
server.listen(port, '127.0.0.1', () => console.log(`client ID metadata documents at ${origin}/clients/NAME.json`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
