// The README's "Trying it locally" recipes, run as a user would: bash and `npm run send` against
// `npm start` (examples/demo.ts), with the secrets the demo generated and printed.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoProcess, startDemo } from '../helpers/demo-process.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
/** Each recipe, and the output the README shows for it (the ```text block right after, if any). */
const recipes = new Map(
  [...readme.matchAll(/^<!-- send-recipe: ([\w-]+) -->\n```sh\n([\s\S]*?)^```\n(?:\n```text\n([\s\S]*?)^```$)?/gm)].map((m) => [m[1]!, { script: m[2]!, shown: m[3] }]),
);

let demo: DemoProcess;
beforeAll(async () => {
  demo = await startDemo();
});
afterAll(() => demo?.stop());

/** Runs a recipe with bash, as pasted into a shell holding the demo's exports; answers the exit code and the command's lines. */
async function send(name: string) {
  const recipe = recipes.get(name);
  if (recipe === undefined) throw new Error(`README.md has no send-recipe: ${name}`);
  const result = await run('bash', ['-eo', 'pipefail', '-c', recipe.script], {
    cwd: root,
    env: { ...process.env, ...demo.exported, SCRAPEHOOK_URL: demo.url },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
  // npm's own header lines (`> scrapehook@x send`, `> tsx src/cli.ts ...`) are not the command's.
  const lines = result.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('> '));
  return { ...result, lines };
}

/** Output with what changes from run to run (port, ids, durations) made constant. */
function normalized(lines: readonly string[]): string[] {
  return lines.map((line) =>
    line
      .replace(/localhost:\d+/g, 'localhost:PORT')
      .replace(/ id \S+/g, ' id ID')
      .replace(/at \+[\d.]+ (ms|s)/g, 'at +T')
      .replace(/ in [\d.]+ (ms|s)/g, ' in T'),
  );
}

describe('README: Trying it locally (scrapehook send)', () => {
  it('has the recipes the tests below run', () => {
    expect([...recipes.keys()].sort()).toEqual(['burst', 'firecrawl', 'like', 'repeat']);
  });

  it('firecrawl: a signed delivery is accepted, the demo handles it, and the output is as the README shows', async () => {
    const { code, lines, stdout } = await send('firecrawl');
    expect(code, stdout).toBe(0);
    const id = /202 Accepted id (\S+)/.exec(stdout)?.[1];
    await demo.waitForStdout(new RegExp(`"type":"crawl.page","id":"${id}"`));
    expect(normalized(lines)).toEqual(normalized(recipes.get('firecrawl')!.shown!.trimEnd().split('\n')));
  });

  it('repeat: the same delivery three times is accepted once, then answered as a duplicate twice', async () => {
    const { code, lines, stdout } = await send('repeat');
    expect(code, stdout).toBe(0);
    const answers = lines.filter((line) => line.includes('attempt 1/1'));
    expect(answers).toEqual([
      expect.stringMatching(/^delivery 1\.1 attempt 1\/1 at \+\d+ ms: 202 Accepted id \d+:finished in /),
      expect.stringMatching(/^delivery 1\.2 attempt 1\/1 at \+\d+ ms: 200 OK id \d+:finished \(duplicate\) in /),
      expect.stringMatching(/^delivery 1\.3 attempt 1\/1 at \+\d+ ms: 200 OK id \d+:finished \(duplicate\) in /),
    ]);
    expect(new Set(answers.map((line) => /id (\S+)/.exec(line)![1])).size).toBe(1);
  });

  it('burst: twenty different deliveries at once, all accepted', async () => {
    const { code, stdout } = await send('burst');
    expect(code, stdout).toBe(0);
    const out = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { delivered: number; attempts: { status: number; id: string }[] };
    expect(out.delivered).toBe(20);
    expect(out.attempts.map((a) => a.status)).toEqual(Array(20).fill(202));
    expect(new Set(out.attempts.map((a) => a.id)).size).toBe(20);
  });

  it("like: a wrong token is refused on each of Web Scraper Cloud's attempts, on its scaled schedule, as the README shows", async () => {
    const { code, lines, stderr } = await send('like');
    expect(code, stderr).toBe(1);
    expect(normalized(lines)).toEqual(normalized(recipes.get('like')!.shown!.trimEnd().split('\n')));
    await demo.waitForStderr(/(^rejected webscraper: 401 unauthorized$[\s\S]*){3}/m);
    expect(lines.join('\n') + stderr).not.toContain('not-the-token');
  });
});
