// The README's "Trying it with curl" recipes, run as a user would: bash, curl and openssl against
// `npm start` (examples/demo.ts) with the secrets the demo generated and printed.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DemoProcess, startDemo } from '../helpers/demo-process.ts';

const run = promisify(execFile);
const readme = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
const recipes = new Map([...readme.matchAll(/^<!-- curl-recipe: ([\w-]+) -->\n```sh\n([\s\S]*?)^```$/gm)].map((m) => [m[1]!, m[2]!]));

const missing = ['bash', 'curl', 'openssl'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (missing.length > 0 && !process.env.CI) console.warn(`README curl recipes skipped: ${missing.join(', ')} not installed`);

let demo: DemoProcess;
beforeAll(async () => {
  if (missing.length === 0 || process.env.CI) demo = await startDemo();
});
afterAll(() => demo?.stop());

/** Runs a recipe with bash, as pasted into a shell holding the demo's exports; answers the status line and body. */
async function send(name: string, env: Record<string, string> = {}) {
  const recipe = recipes.get(name);
  if (recipe === undefined) throw new Error(`README.md has no curl-recipe: ${name}`);
  const { stdout } = await run('bash', ['-eo', 'pipefail', '-c', recipe], {
    env: { ...process.env, ...demo.exported, SCRAPEHOOK_URL: demo.url, ...env },
  });
  const status = /^HTTP\/1\.1 (\d{3})/.exec(stdout)?.[1];
  return { status: Number(status), body: stdout.slice(stdout.indexOf('\r\n\r\n') + 4) };
}

describe.skipIf(missing.length > 0 && !process.env.CI)('README: Trying it with curl', () => {
  it('has one recipe per provider', () => {
    expect(missing).toEqual([]);
    expect([...recipes.keys()].sort()).toEqual(['apify', 'firecrawl', 'standard-webhooks', 'thordata', 'webscraper']);
  });

  it.each(['firecrawl', 'standard-webhooks', 'apify', 'thordata', 'webscraper'])('the %s recipe is answered 202 by npm start, twice', async (name) => {
    for (let i = 0; i < 2; i++) {
      const res = await send(name);
      expect(res.status, res.body).toBe(202);
      expect(JSON.parse(res.body)).toEqual({ id: expect.any(String) });
    }
  });

  it('a recipe with the wrong secret or token is refused 401, and the demo says so on stderr', async () => {
    expect((await send('firecrawl', { FIRECRAWL_WEBHOOK_SECRET: 'not-the-secret' })).status).toBe(401);
    await demo.waitForStderr(/^rejected firecrawl: 401 unauthorized$/m);
    const standard = `whsec_${Buffer.from('not the secret, but 24 b').toString('base64')}`;
    expect((await send('standard-webhooks', { STANDARD_WEBHOOK_SECRET: standard })).status).toBe(401);
    expect((await send('webscraper', { WEBSCRAPER_WEBHOOK_TOKEN: 'not-the-token-91c0' })).status).toBe(401);
    await demo.waitForStderr(/^rejected webscraper: 401 unauthorized$/m);
    expect(demo.stderr()).not.toContain('not-the-token-91c0');
  });

  it('the webscraper recipe ends with the job\'s rows imported from the built-in mock, shown in /healthz', async () => {
    const res = await send('webscraper');
    expect(res.status, res.body).toBe(202);
    const jobId = (JSON.parse(res.body) as { id: string }).id.split(':')[0];
    // The demo runs in another process: /healthz is polled, with room for a loaded machine.
    await vi.waitFor(
      async () => {
        const health = (await (await fetch(`${demo.url}/healthz`)).json()) as { imports: { jobId: string; state: string; rows: number }[] };
        expect(health.imports.find((entry) => entry.jobId === jobId)).toMatchObject({ state: 'done', rows: 25 });
      },
      { timeout: 15_000, interval: 20 },
    );
  });
});
