// Smoke tests on Bun and Deno: the README's examples (examples/runtimes/bun.ts, deno.ts) run under
// the real runtime, answer a signed delivery 202 and run its handler. The runtimes come from the npm
// registry (`@oven/bun-linux-x64`, `@deno/linux-x64-glibc`, the binaries the `bun` and `deno`
// packages install), pinned in .ci/run, which passes their paths as SCRAPEHOOK_BUN and SCRAPEHOOK_DENO.
// Without them the tests are skipped with a message; in CI (CI=true) they fail instead.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { apifyDelivery, firecrawlDelivery, sendDelivery, type TestDelivery } from '../../src/testing/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill();
});

/** Starts an example under a runtime; resolves with its port and a wait for a line of its output. */
function start(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env, PORT: '0', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  const waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(output);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    check();
  });
  child.stderr!.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${command} exited with ${code}:\n${output}`))));
  const waitFor = (pattern: RegExp) => Promise.race([new Promise<RegExpMatchArray>((resolve) => (waiters.push({ pattern, resolve }), check())), exited]);
  return { waitFor };
}

async function smoke(command: string, args: string[], env: Record<string, string>, delivery: TestDelivery, forgedDelivery: TestDelivery, handled: RegExp): Promise<void> {
  const example = start(command, args, env);
  const [, port] = await example.waitFor(/listening on (\d+)/);
  const res = await sendDelivery(`http://127.0.0.1:${port}`, delivery);
  expect(res.status, res.text).toBe(202);
  await example.waitFor(handled);
  const forged = await sendDelivery(`http://127.0.0.1:${port}`, forgedDelivery);
  expect(forged.status).toBe(401);
}

const runtimes = [
  {
    name: 'Bun',
    bin: process.env.SCRAPEHOOK_BUN,
    run: (bin: string) =>
      smoke(bin, ['examples/runtimes/bun.ts'], { FIRECRAWL_WEBHOOK_SECRET: 'bun-secret' }, firecrawlDelivery({ secret: 'bun-secret', type: 'crawl.page' }), firecrawlDelivery({ secret: 'wrong', type: 'crawl.page' }), /page https:\/\/example\.com/),
  },
  {
    name: 'Deno',
    bin: process.env.SCRAPEHOOK_DENO,
    run: (bin: string) =>
      smoke(
        bin,
        ['run', '--allow-net', '--allow-env', '--allow-read', '--node-modules-dir=manual', 'examples/runtimes/deno.ts'],
        { APIFY_WEBHOOK_TOKEN: 'deno-token', DENO_NO_UPDATE_CHECK: '1' },
        apifyDelivery({ token: 'deno-token', type: 'ACTOR.RUN.SUCCEEDED' }),
        apifyDelivery({ token: 'wrong', type: 'ACTOR.RUN.SUCCEEDED' }),
        /run \S+/,
      ),
  },
];

describe.each(runtimes)('examples/runtimes on $name', ({ name, bin, run }) => {
  if (bin === undefined && process.env.CI !== 'true') {
    it.skip(`needs SCRAPEHOOK_${name.toUpperCase()}: the path of a ${name} binary (.ci/run installs one from the npm registry)`, () => undefined);
    return;
  }
  it('answers a signed delivery 202, runs its handler, and answers a forged one 401', async () => {
    expect(bin, `SCRAPEHOOK_${name.toUpperCase()} is not set`).toBeDefined();
    await run(bin!);
  }, 60_000);
});
