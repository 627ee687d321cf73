// A reverse proxy in front of one MCP server that logs every request it relays, so a suite can
// prove what reached the server and what did not. Any path is relayed to --target (the MCP
// server's URL), so one server can stand behind several Portcullis upstreams, each with its own
// path (`/everything/mcp`, `/scoped/mcp`), and the log tells them apart. Bodies and answers,
// SSE streams included, are relayed as they come; nothing is changed.
//
//   node logging_proxy.mjs --port P --target http://127.0.0.1:U/mcp --log requests.jsonl
//
// One JSON line per request: {"path", "method", "rpc": [{"method", "name"}]}, `rpc` listing the
// JSON-RPC messages of a POST body (`name` is a tools/call's or prompts/get's `params.name`, a
// resource request's `params.uri`). Listens on 127.0.0.1 only.
import { appendFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, target: { type: 'string' }, log: { type: 'string' } },
});
if (!values.port || !values.target || !values.log) {
  console.error('usage: node logging_proxy.mjs --port P --target URL --log requests.jsonl');
  process.exit(2);
}
const target = new URL(values.target);

/// The JSON-RPC messages of a body, as {method, name}; an unparsable body is logged as such.
function messagesOf(body) {
  if (!body.length) return [];
  let parsed;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [{ method: '(not JSON)' }];
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).map((m) => ({
    method: m?.method ?? (m && 'result' in m ? '(result)' : m && 'error' in m ? '(error)' : undefined),
    name: m?.params?.name ?? m?.params?.uri,
  }));
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    appendFileSync(values.log, `${JSON.stringify({ path: req.url, method: req.method, rpc: messagesOf(body) })}\n`);
    const headers = { ...req.headers, host: target.host };
    delete headers['content-length'];
    if (body.length) headers['content-length'] = String(body.length);
    const upstream = request(
      { host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${err.message}\n`);
    });
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  });
});
server.listen(Number(values.port), '127.0.0.1', () => console.log(`relaying 127.0.0.1:${values.port} to ${target.href}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
