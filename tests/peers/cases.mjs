// The report of the Node client scripts: one line per case, `ok LABEL: CASE` or
// `FAIL LABEL: CASE: why`, which the suites count (lib.sh, peers_run_cases); exit status 1 when
// any case failed.
//
//   const cases = new Cases('ts-v2');
//   await cases.step('connect', async () => { … });   // later cases are not run if it fails
//   await cases.check('tools/list', async () => { assert(…, 'why'); });
//   cases.exit();

export class Cases {
  constructor(label) {
    this.label = label;
    this.failed = 0;
    this.stopped = undefined;
  }

  /// One case: `ok` when `fn` resolves, `FAIL` with the reason when it throws.
  async check(name, fn) {
    if (this.stopped) {
      this.fail(name, `not run: ${this.stopped} failed`);
      return false;
    }
    try {
      await fn();
      console.log(`ok ${this.label}: ${name}`);
      return true;
    } catch (err) {
      this.fail(name, describe(err));
      return false;
    }
  }

  /// A case the next ones build on: when it fails, they are reported as not run.
  async step(name, fn) {
    const ok = await this.check(name, fn);
    if (!ok && !this.stopped) this.stopped = name;
    return ok;
  }

  fail(name, why) {
    this.failed += 1;
    console.log(`FAIL ${this.label}: ${name}: ${why}`);
  }

  exit() {
    process.exit(this.failed ? 1 : 0);
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/// An error on one line: its name and message, the cause, and an OAuth error's code.
export function describe(err) {
  const parts = [err instanceof Error ? `${err.name}: ${err.message}` : String(err)];
  if (err?.error && typeof err.error === 'string') parts.push(`error ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`);
  if (err?.cause && !(err.cause instanceof Response)) parts.push(`cause: ${err.cause?.message ?? JSON.stringify(err.cause)}`);
  return parts.join('; ').replace(/\s+/g, ' ').slice(0, 600);
}

/// The text blocks of a tool result, joined.
export function textOf(result) {
  return (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');
}

/// The cases every client runs against server-everything: its tools listed (`echo` and `get-sum`
/// among them), `echo` called with non-ASCII text and `get-sum` with two numbers. `listTools()`
/// and `callTool(params)` are the client's own calls, whatever its SDK's signatures.
export async function everythingTools(cases, { listTools, callTool }) {
  await cases.check('tools/list has echo and get-sum', async () => {
    const { tools } = await listTools();
    const names = tools.map((t) => t.name);
    assert(names.includes('echo') && names.includes('get-sum'), `tools were ${JSON.stringify(names)}`);
    const echo = tools.find((t) => t.name === 'echo');
    assert(echo.inputSchema?.properties?.message, `echo has no message parameter: ${JSON.stringify(echo.inputSchema)}`);
  });
  await cases.check('tools/call echo', async () => {
    const message = `hello from ${cases.label} ✓`;
    const result = await callTool({ name: 'echo', arguments: { message } });
    assert(!result.isError, `isError: ${JSON.stringify(result)}`);
    assert(textOf(result) === `Echo: ${message}`, `got ${JSON.stringify(result.content)}`);
  });
  await cases.check('tools/call get-sum', async () => {
    const result = await callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } });
    assert(!result.isError && /\b42\b/.test(textOf(result)), `got ${JSON.stringify(result)}`);
  });
}
