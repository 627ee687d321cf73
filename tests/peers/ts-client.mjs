// A real TypeScript SDK client against one MCP endpoint: connect, list tools, call tools, and
// check the answers server-everything gives. One line per case, `ok LABEL: CASE` or
// `FAIL LABEL: CASE: why`; exit status 1 when any case failed.
//
//   node ts-client.mjs --sdk v1|v2 [--mode legacy|auto] URL
//
// v1 is @modelcontextprotocol/sdk (StreamableHTTPClientTransport), v2 is
// @modelcontextprotocol/client, whose default negotiation is the 2025 `initialize` handshake
// ('legacy'); 'auto' probes `server/discover` first and falls back to the handshake.
import { parseArgs } from 'node:util';

import { Cases, assert, everythingTools, textOf } from './cases.mjs';

const { values, positionals } = parseArgs({
  options: { sdk: { type: 'string', default: 'v2' }, mode: { type: 'string' } },
  allowPositionals: true,
});
const [url] = positionals;
if (!url || !['v1', 'v2'].includes(values.sdk)) {
  console.error('usage: node ts-client.mjs --sdk v1|v2 [--mode legacy|auto] URL');
  process.exit(2);
}
const label = `ts-${values.sdk}${values.mode ? `-${values.mode}` : ''}`;
const timeout = 15_000;

const cases = new Cases(label);
let client;
// v1: callTool(params, resultSchema?, options); v2: callTool(params, options).
function callTool(params, options = {}) {
  const opts = { timeout, ...options };
  return values.sdk === 'v1' ? client.callTool(params, undefined, opts) : client.callTool(params, opts);
}

async function connect() {
  const info = { name: `portcullis-peers-${label}`, version: '0.0.0' };
  let Client, Transport, options;
  if (values.sdk === 'v1') {
    ({ Client } = await import('@modelcontextprotocol/sdk/client/index.js'));
    ({ StreamableHTTPClientTransport: Transport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js'));
  } else {
    ({ Client, StreamableHTTPClientTransport: Transport } = await import('@modelcontextprotocol/client'));
    options = values.mode ? { versionNegotiation: { mode: values.mode } } : undefined;
  }
  const c = new Client(info, options);
  await c.connect(new Transport(new URL(url)), { timeout });
  return c;
}

await cases.step('connect', async () => {
  client = await connect();
});
await everythingTools(cases, { listTools: () => client.listTools(undefined, { timeout }), callTool });
await cases.check('tools/call with progress notifications', async () => {
  // server-everything sends notifications/progress (related to the call) when a progressToken is
  // given; through a relay they must arrive before the result, on the call's own stream.
  const seen = [];
  const result = await callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
    { onprogress: (p) => seen.push(`${p.progress}/${p.total}`) },
  );
  assert(!result.isError && /completed/.test(textOf(result)), `got ${JSON.stringify(result)}`);
  assert(seen.join(' ') === '1/3 2/3 3/3', `progress notifications were [${seen.join(' ')}]`);
});
await cases.check('tools/call of an unknown tool is an error', async () => {
  let result;
  try {
    result = await callTool({ name: 'no-such-tool', arguments: {} });
  } catch (err) {
    assert(typeof err?.code === 'number', `expected a JSON-RPC error, got ${err}`);
    return;
  }
  assert(result.isError === true, `expected an error, got ${JSON.stringify(result)}`);
});
await cases.check('close', async () => {
  await client.close();
});

cases.exit();
