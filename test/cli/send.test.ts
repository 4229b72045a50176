// `scrapehook send` against real receivers (createReceiver on port 0): what a user trying their
// receiver sees, per attempt, with a sender's timeout and retries made fast by --time-scale.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AttemptReport } from '../../src/cli/send.ts';
import { apify, createReceiver, firecrawl, standardWebhooks, thordata, webScraper, type AnyProvider, type Receiver, type WebhookEvent } from '../../src/index.ts';
import { runCli as cli } from '../helpers/cli.ts';

const SECRET = 'fc-secret-7f3a9c';
const TOKEN = 'tok-91c0e4b2d8';
const WHSEC = `whsec_${Buffer.from('twenty-four random bytes').toString('base64')}`;

interface RunningReceiver {
  url: string;
  hooks: Receiver<AnyProvider>;
  handled: WebhookEvent[];
  /** Resolves once `n` events were handled. */
  handledCount(n: number): Promise<void>;
  /** Each request that reached the server: held ones too. */
  requests: number;
  /** Holds the next `n` requests without answering, until the sender gives up (closes the connection). */
  holdNext(n: number): void;
  /** Resolves when the sender has closed the connection of a held request, once per held request. */
  senderGaveUp: Promise<void>[];
}

const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((stop) => stop()));
});

/** A real receiver of `provider` mounted on `route`, behind a server that can hold requests (a slow receiver). */
async function startReceiver(provider: AnyProvider, route: string): Promise<RunningReceiver> {
  const hooks = createReceiver({ provider }) as Receiver<AnyProvider>;
  const handled: WebhookEvent[] = [];
  const waiters: (() => void)[] = [];
  hooks.onAny((event) => {
    handled.push(event);
    for (const wake of waiters.splice(0)) wake();
  });
  const handler = hooks.nodeHandler({ path: route });
  let holds = 0;
  const state = { requests: 0 };
  const senderGaveUp: Promise<void>[] = [];
  const server = http.createServer((req, res) => {
    state.requests++;
    if (holds > 0) {
      holds--;
      req.resume();
      // Answers nothing: the only way this request ends is the sender giving up.
      senderGaveUp.push(once(res, 'close').then(() => undefined));
      return;
    }
    void handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  running.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await hooks.close({ timeoutMs: 1000 });
  });
  const handledCount = async (n: number) => {
    while (handled.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hooks,
    handled,
    handledCount,
    get requests() {
      return state.requests;
    },
    holdNext: (n) => void (holds = n),
    senderGaveUp,
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-send-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scrapehook send', () => {
  it('posts a signed Firecrawl delivery (secret from the environment): 202, and the handler runs', async () => {
    const receiver = await startReceiver(firecrawl({ secret: SECRET }), '/webhooks/firecrawl');
    const { code, stdout, stderr } = await cli(['send', 'firecrawl', 'crawl.completed', '--url', receiver.url], { FIRECRAWL_WEBHOOK_SECRET: SECRET });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    await receiver.handledCount(1);
    expect(receiver.handled[0]).toMatchObject({ provider: 'firecrawl', type: 'crawl.completed', attempt: 1 });
    expect(stdout).toContain(`POST ${receiver.url}/webhooks/firecrawl (firecrawl crawl.completed)`);
    expect(stdout).toMatch(new RegExp(`^attempt 1/1 at \\+\\d+ ms: 202 Accepted id ${receiver.handled[0]!.id} in \\d+ (ms|s)$`, 'm'));
    expect(stdout).toContain('Delivered 1 of 1.');
  });

  it.each([
    ['apify', apify({ token: TOKEN }), '/webhooks/apify/:token', 'ACTOR.RUN.SUCCEEDED'],
    ['thordata', thordata({ token: TOKEN }), '/webhooks/thordata/:token', 'ACTOR.RUN.SUCCEEDED'],
    ['webscraper', webScraper({ token: TOKEN }), '/webhooks/webscraper/:token', 'scrapingjob.finished'],
    ['standard', standardWebhooks({ secret: WHSEC, data: z.record(z.string(), z.unknown()) }), '/webhooks/standard', 'test.event'],
  ] as const)('sends a %s delivery that its receiver accepts, to the default route of a bare origin', async (name, provider, route, type) => {
    const receiver = await startReceiver(provider, route);
    const { code, stdout } = await cli(['send', name, '--url', receiver.url], { SCRAPEHOOK_TOKEN: TOKEN, SCRAPEHOOK_SECRET: WHSEC });
    expect(code, stdout).toBe(0);
    await receiver.handledCount(1);
    expect(receiver.handled[0]!.type).toBe(type);
  });

  it('--like webscraper against a receiver slower than the timeout: the sender\'s timeline, timeout then 202', async () => {
    const receiver = await startReceiver(webScraper({ token: TOKEN }), '/webhooks/webscraper/:token');
    receiver.holdNext(1);
    // Scale 0.1: the 10 s timeout is 1 s (ample for a local 202), the retries wait 0.5 s and 1 s.
    const args = ['send', 'webscraper', '--like', 'webscraper', '--time-scale', '0.1', '--url', receiver.url, '--json'];
    const { code, stdout } = await cli(args, { WEBSCRAPER_WEBHOOK_TOKEN: TOKEN });
    expect(code, stdout).toBe(0);
    await receiver.senderGaveUp[0]; // the held attempt ended because the sender closed it
    await receiver.handledCount(1);
    const out = JSON.parse(stdout) as { like: { name: string; timeoutMs: number; retryDelaysMs: number[] }; timeoutMs: number; retryDelaysMs: number[]; delivered: number; attempts: AttemptReport[] };
    expect(out.like).toMatchObject({ name: 'webscraper', label: 'Web Scraper Cloud', timeoutMs: 10_000, retryDelaysMs: [5_000, 10_000] });
    expect({ timeoutMs: out.timeoutMs, retryDelaysMs: out.retryDelaysMs, delivered: out.delivered }).toEqual({ timeoutMs: 1000, retryDelaysMs: [500, 1000], delivered: 1 });
    const [first, second, ...more] = out.attempts;
    expect(more).toEqual([]);
    expect(first).toMatchObject({ attempt: 1, attempts: 3, waitedMs: 0, startMs: 0, outcome: 'timeout', delivered: false });
    expect(first!.durationMs).toBeGreaterThanOrEqual(1000);
    expect(second).toMatchObject({ attempt: 2, attempts: 3, waitedMs: 500, outcome: 'answered', status: 202, id: receiver.handled[0]!.id, delivered: true });
    expect(second!.startMs).toBeGreaterThanOrEqual(1500);
    expect(receiver.requests).toBe(2);
  });

  it('--like webscraper with a wrong token: 401 three times on the sender\'s schedule, exit 1, and no token printed', async () => {
    const receiver = await startReceiver(webScraper({ token: TOKEN }), '/webhooks/webscraper/:token');
    const wrong = 'wrong-token-5d1e';
    const { code, stdout, stderr } = await cli(['send', 'webscraper', 'scrapingjob.failed', '--like', 'webscraper', '--time-scale', '0.1', '--url', receiver.url, '--token', wrong]);
    expect(code).toBe(1);
    const lines = stdout.split('\n').filter((line) => line.startsWith('attempt'));
    expect(lines).toEqual([
      expect.stringMatching(/^attempt 1\/3 at \+0 ms: 401 Unauthorized unauthorized in \d+ (ms|s), will retry$/),
      expect.stringMatching(/^attempt 2\/3 after 500 ms at \+[\d.]+ (ms|s): 401 Unauthorized unauthorized in \d+ (ms|s), will retry$/),
      expect.stringMatching(/^attempt 3\/3 after 1 s at \+[\d.]+ s: 401 Unauthorized unauthorized in \d+ (ms|s), gives up$/),
    ]);
    expect(stdout).toContain('Like Web Scraper Cloud: timeout 10 s, retries after 5 s, 10 s; at time scale 0.1: timeout 1 s, retries after 500 ms, 1 s.');
    expect(stdout).toContain(`POST ${receiver.url}/webhooks/webscraper/*** (webscraper scrapingjob.failed)`);
    expect(stdout).toContain('Delivered 0 of 1; the sender would give up on 1.');
    expect(receiver.requests).toBe(3);
    expect(stdout + stderr).not.toContain(wrong);
    expect(receiver.handled).toEqual([]);
  });

  it('--repeat 3 sends the same delivery three times: 202, then 200 duplicates, and the handler runs once', async () => {
    const receiver = await startReceiver(firecrawl({ secret: SECRET }), '/webhooks/firecrawl');
    const { code, stdout } = await cli(['send', 'firecrawl', '--repeat', '3', '--url', receiver.url, '--json'], { FIRECRAWL_WEBHOOK_SECRET: SECRET });
    expect(code, stdout).toBe(0);
    const { attempts } = JSON.parse(stdout) as { attempts: AttemptReport[] };
    expect(attempts.map(({ repeat, status, duplicate }) => ({ repeat, status, duplicate }))).toEqual([
      { repeat: 1, status: 202, duplicate: undefined },
      { repeat: 2, status: 200, duplicate: true },
      { repeat: 3, status: 200, duplicate: true },
    ]);
    expect(new Set(attempts.map((a) => a.id)).size).toBe(1);
    await receiver.hooks.onIdle();
    expect(receiver.handled).toHaveLength(1);
  });

  it('--concurrency 4 with --repeat 2 sends four different deliveries at once, each then repeated as a duplicate', async () => {
    const receiver = await startReceiver(webScraper({ token: TOKEN }), '/webhooks/webscraper/:token');
    const { code, stdout } = await cli(['send', 'webscraper', '--concurrency', '4', '--repeat', '2', '--url', `${receiver.url}/webhooks/webscraper`, '--json'], {
      SCRAPEHOOK_TOKEN: TOKEN,
    });
    expect(code, stdout).toBe(0);
    const { attempts, delivered } = JSON.parse(stdout) as { attempts: AttemptReport[]; delivered: number };
    expect(delivered).toBe(8);
    const firsts = attempts.filter((a) => a.repeat === 1);
    expect(firsts.map((a) => a.status)).toEqual([202, 202, 202, 202]);
    expect(new Set(firsts.map((a) => a.id)).size).toBe(4);
    for (const again of attempts.filter((a) => a.repeat === 2)) {
      expect(again).toMatchObject({ status: 200, duplicate: true, id: firsts.find((a) => a.delivery === again.delivery)!.id });
    }
    await receiver.handledCount(4);
  });

  it('--data sends a given body byte for byte, signed over those bytes (from a file, or stdin)', async () => {
    const receiver = await startReceiver(firecrawl({ secret: SECRET }), '/webhooks/firecrawl');
    const body = '{"success":true,"type":"crawl.started","id":"job-1","webhookId":"wh-given-1","data":[]}';
    const file = join(dir, 'body.json');
    writeFileSync(file, body);
    const fromFile = await cli(['send', 'firecrawl', '--data', file, '--url', receiver.url, '--secret', SECRET]);
    expect(fromFile.code, fromFile.stdout).toBe(0);
    expect(fromFile.stdout).toContain('(firecrawl body from --data)');
    await receiver.handledCount(1);
    expect(receiver.handled[0]).toMatchObject({ id: 'wh-given-1', type: 'crawl.started' });
    // The same bytes again, from stdin: the same notification, so a duplicate.
    const fromStdin = await cli(['send', 'firecrawl', '--data', '-', '--url', receiver.url, '--json'], { FIRECRAWL_WEBHOOK_SECRET: SECRET }, Buffer.from(body));
    expect(fromStdin.code, fromStdin.stdout).toBe(0);
    expect((JSON.parse(fromStdin.stdout) as { attempts: AttemptReport[] }).attempts[0]).toMatchObject({ status: 200, duplicate: true, id: 'wh-given-1' });
  });

  it('never prints the secret or token, in text, JSON or errors', async () => {
    const receiver = await startReceiver(apify({ token: TOKEN }), '/webhooks/apify/:token');
    const outputs = [
      await cli(['send', 'apify', '--url', receiver.url, '--token', TOKEN]),
      await cli(['send', 'apify', '--url', receiver.url, '--token', TOKEN, '--token-in', 'query', '--json']), // 404: the route wants it in the path
      await cli(['send', 'firecrawl', '--url', 'http://127.0.0.1:1', '--secret', SECRET, '--json']), // refused: no receiver there
      await cli(['send', 'firecrawl', '--secret', SECRET, '--time-scale', SECRET]), // a usage error quoting the value
      await cli(['send', 'apify', '--url', `not a url ${TOKEN}`, '--token', TOKEN]),
    ];
    expect(outputs.map((o) => o.code)).toEqual([0, 1, 1, 2, 2]);
    expect(outputs[1]!.stdout).toContain('?token=***');
    expect(outputs[2]!.stdout).toContain('"code": "ECONNREFUSED"');
    expect(outputs[3]!.stderr).toContain('--time-scale takes a number greater than 0, got "***"');
    for (const { stdout, stderr } of outputs) {
      expect(stdout + stderr).not.toContain(TOKEN);
      expect(stdout + stderr).not.toContain(SECRET);
    }
  });

  it.each([
    [['send'], /send needs a provider: firecrawl, apify/],
    [['send', 'nope'], /unknown provider "nope"/],
    [['send', 'apify'], /apify needs a token: give --token, or set APIFY_WEBHOOK_TOKEN or SCRAPEHOOK_TOKEN/],
    [['send', 'apify', '--secret', 'sec-x'], /apify deliveries carry a token \(--token\), not a secret/],
    [['send', 'firecrawl', 'crawl.nope', '--secret', 'sec-x'], /unknown event type "crawl.nope" of firecrawl \(expected one of crawl.started, /],
    [['send', 'firecrawl', 'crawl.page', '--data', 'x.json', '--secret', 'sec-x'], /event type or --data, not both/],
    [['send', 'apify', '--token', 'tok-x', '--like', 'thordata'], /Thordata documents no timeout or retry schedule/],
    [['send', 'apify', '--token', 'tok-x', '--like', 'pigeon'], /unknown sender "pigeon" for --like \(expected firecrawl, apify, webscraper, standard, svix\)/],
    [['send', 'apify', '--token', 'tok-x', '--time-scale', '0'], /--time-scale takes a number greater than 0/],
    [['send', 'apify', '--token', 'tok-x', '--repeat', '0'], /--repeat takes a whole number from 1/],
    [['send', 'apify', '--token', 'tok-x', '--timeout', '0'], /--timeout takes a number greater than 0/],
    [['send', 'apify', '--token', 'tok-x', '--concurrency', 'many'], /--concurrency takes a whole number/],
    [['send', 'apify', '--token', 'tok-x', '--url', 'ftp://example.com'], /--url takes an http:\/\/ or https:\/\/ URL/],
    [['send', 'apify', '--token', 'tok-x', '--token-in', 'body'], /--token-in takes param, query or header/],
    [['send', 'webscraper', '--token', 'tok-x', '--token-in', 'header'], /token in the URL/],
    [['send', 'standard', '--secret', 'not base64!'], /base64 secret such as `whsec_/],
    [['send', 'apify', '--token', 'tok-x', '--data', '/no/such/file.json'], /--data \/no\/such\/file.json: ENOENT/],
    [['send', 'apify', '--token', 'tok-x', '--bogus'], /Unknown option '--bogus'/],
    [['--json', 'send', 'apify'], /put send first/],
  ])('exits 2 on a usage error, saying what is wrong: %j', async (args, message) => {
    const { code, stdout, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/Run `scrapehook (send )?--help` for usage/);
  });

  it('--help describes every --like schedule with its figures and says which are unconfirmed', async () => {
    const { code, stdout } = await cli(['send', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: scrapehook send <provider>/);
    expect(stdout).toMatch(/webscraper {2}10 s; 2 retries after 5 s, 10 s/);
    expect(stdout).toMatch(/firecrawl {3}10 s; 3 retries after 1 min, 5 min, 15 min\n\s+\(docs only/);
    expect(stdout).toMatch(/apify {7}2 min; 11 retries after 1 min, 2 min, 4 min, 8 min \.\.\. 17\.1 h\n\s+\(unconfirmed/);
    expect(stdout).toContain('--concurrency <c>        Send c DIFFERENT deliveries (fresh ids)');
    expect((await cli(['--help'])).stdout).toContain('send <provider> [<type>]');
  });
});
