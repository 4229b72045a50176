import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createReceiver, sqliteStore, type AnyProvider, type Receiver } from '../../src/index.ts';
import { bullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { findReceiverQueues } from '../../src/queue/bullmq/admin.ts';
import { freePort, redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { sendRaw } from '../helpers/http.ts';
import { shoutingProvider } from '../helpers/shouting-provider.ts';
import { pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { killChildren, readLog, send, startReceiver, waitFor } from './child.ts';
import { runCli as cli } from '../helpers/cli.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-cli-'));
});
afterEach(() => killChildren());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Two receivers whose handlers fail, each with one dead letter of the same id `same` (and the test
 * receiver with `only-test` too).
 */
async function twoReceiversWithDeadLetters(options: { store?: () => ReturnType<typeof sqliteStore>; queue?: () => ReturnType<typeof bullmqQueue> }) {
  const store = options.store?.();
  const make = <P extends AnyProvider>(provider: P) =>
    createReceiver({ provider, retry: { attempts: 1 }, ...(store ? { store } : { queue: options.queue!() }) }) as unknown as Receiver<AnyProvider>;
  const receivers = [make(testProvider()), make(shoutingProvider())];
  for (const hooks of receivers) {
    hooks.onAny(() => {
      throw new Error('down');
    });
  }
  const [test, shout] = receivers as [Receiver<AnyProvider>, Receiver<AnyProvider>];
  for (const webhookId of ['same', 'only-test']) expect((await sendRaw(test.nodeHandler(), signed(pageEvent({ webhookId })))).status).toBe(202);
  expect((await sendRaw(shout.nodeHandler(), signed({ type: 'page.scraped', webhookId: 'same', markdown: 'x' }))).status).toBe(202);
  await Promise.all(receivers.map((hooks) => hooks.onIdle()));
  return { test, shout, close: () => Promise.all(receivers.map((hooks) => hooks.close())) };
}

describe('scrapehook (CLI)', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: scrapehook <command>/);
    expect(stdout).toContain('--sqlite <path>');
  });

  it.each([
    [[], /missing command/],
    [['frobnicate', '--sqlite', 'x'], /unknown command/],
    [['stats'], /which backend/],
    [['stats', '--sqlite', 'x', '--redis', 'redis://h'], /not both/],
    [['replay', '--sqlite', 'x'], /needs the ids/],
    [['replay', 'a', '--all', '--sqlite', 'x'], /not both/],
    [['stats', '--sqlite', 'x', '--bogus'], /Unknown option/],
    [['stats', '--redis', 'http://h'], /redis:\/\//],
  ])('exits 2 on a usage error: %j', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('scrapehook --help');
  });

  it('exits 1 for a missing file or a file that is not a scrapehook database, creating nothing', async () => {
    const missing = join(dir, 'missing.db');
    expect(await cli(['stats', '--sqlite', missing])).toMatchObject({ code: 1, stderr: expect.stringContaining(missing) });
    const other = join(dir, 'other.db');
    writeFileSync(other, '');
    expect(await cli(['stats', '--sqlite', other])).toMatchObject({ code: 1, stderr: expect.stringMatching(/not a scrapehook database/) });
  });

  it('runs as a program with the documented exit codes', () => {
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(run(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(run(['stats']).status).toBe(2);
    expect(run(['stats', '--sqlite', join(dir, 'nope.db')]).status).toBe(1);
  });

  describe('with --sqlite', () => {
    it('shows which receiver each dead letter belongs to, and lists, counts and replays one receiver’s with --receiver', async () => {
      const db = join(dir, 'receivers.db');
      const { close } = await twoReceiversWithDeadLetters({ store: () => sqliteStore({ path: db }) });
      await close();

      const all = await cli(['dead-letters', '--sqlite', db]);
      expect(all.stdout).toMatch(/^test\s+same\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^test\s+only-test\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^shout\s+same\s+page\.scraped\s/m);
      expect(all.stdout).toContain('3 dead letters.');
      const shout = JSON.parse((await cli(['dead-letters', '--sqlite', db, '--receiver', 'shout', '--json'])).stdout) as { receiver: string; id: string }[];
      expect(shout.map((l) => [l.receiver, l.id])).toEqual([['shout', 'same']]);
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--receiver', 'test', '--json'])).stdout)).toMatchObject({ dead: 2 });
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--json'])).stdout)).toMatchObject({ dead: 3 });

      // The id both receivers have: --receiver re-queues only that receiver's.
      expect(await cli(['replay', 'same', '--sqlite', db, '--receiver', 'shout', '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["same"],"missing":[]}\n' });
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--receiver', 'shout', '--json'])).stdout)).toMatchObject({ dead: 0, queued: 1, requeued: 1 });
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--receiver', 'test', '--json'])).stdout)).toMatchObject({ dead: 2, queued: 0 });
      expect(await cli(['replay', 'only-test', '--sqlite', db, '--receiver', 'shout'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no dead letter with id "only-test"') });
    });

    it('lists dead letters, counts states, and replays into the running receiver', async () => {
      const db = join(dir, 'replay.db');
      const log = join(dir, 'replay.log');
      const fixed = join(dir, 'fixed');
      const receiver = await startReceiver({ DB_PATH: db, LOG_PATH: log, ATTEMPTS: '1', POLL_MS: '20', FAIL_UNTIL_FILE: fixed });
      for (const webhookId of ['fail-1', 'fail-2', 'ok-1']) expect(await send(receiver.port, pageEvent({ webhookId }))).toBe(202);
      await waitFor(() => readLog(log).started.size === 3 && readLog(log).done.has('ok-1'), 'the three deliveries ran');
      // The dead state is written in the receiver's next group commit: poll the CLI itself.
      let stats: Record<string, number> = {};
      await waitFor(async () => {
        stats = JSON.parse((await cli(['stats', '--sqlite', db, '--json'])).stdout) as Record<string, number>;
        return stats.dead === 2 && stats.succeeded === 1;
      }, 'two dead letters and one success are on disk');
      expect(stats).toMatchObject({ queued: 0, running: 0, succeeded: 1, dead: 2, requeued: 0 });

      const listed = await cli(['dead-letters', '--sqlite', db]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^RECEIVER\s+ID\s+TYPE\s+ATTEMPTS\s+RECEIVED\s+LAST ERROR\n/);
      expect(listed.stdout).toMatch(/test\s+fail-1\s+crawl\.page\s+1\s+\S+Z\s+handler\.failed: A crawl\.page handler failed: fail-1 is set to fail/);
      expect(listed.stdout).toContain('2 dead letters.');
      const json = JSON.parse((await cli(['dead-letters', '--sqlite', db, '--json'])).stdout) as { id: string; event: { payload: unknown } }[];
      expect(json.map((l) => l.id)).toEqual(['fail-1', 'fail-2']);
      expect(json[0]!.event.payload).toMatchObject({ webhookId: 'fail-1', type: 'crawl.page' });

      writeFileSync(fixed, '');
      const one = await cli(['replay', 'fail-1', 'nope', '--sqlite', db]);
      expect(one.code).toBe(1); // nope is not a dead letter; fail-1 was still re-queued
      expect(one.stdout).toContain('Re-queued 1 dead letter');
      expect(one.stderr).toContain('no dead letter with id "nope"');
      await waitFor(() => readLog(log).done.has('fail-1'), 'the running receiver ran the replayed fail-1');
      expect(await cli(['replay', '--all', '--sqlite', db, '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["fail-2"],"missing":[]}\n' });
      await waitFor(() => readLog(log).done.has('fail-2'), 'the running receiver ran fail-2');

      expect(await receiver.close()).toBe(0);
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--json'])).stdout)).toMatchObject({ succeeded: 3, dead: 0, requeued: 0 });
      expect((await cli(['dead-letters', '--sqlite', db])).stdout).toBe('No dead letters.\n');
    });
  });

  describe.runIf(redisTestsEnabled('cli'))('with --redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('lists dead letters, counts, and replays into the running receivers (URL from the environment)', async () => {
      const hooks = createReceiver({ provider: testProvider(), retry: { attempts: 1 }, queue: bullmqQueue({ connection: redis.url, name: 'cli' }) });
      let fixed = false;
      const done: string[] = [];
      hooks.onAny((event) => {
        if (!fixed) throw new Error('down');
        done.push(event.id);
      });
      try {
        const env = { SCRAPEHOOK_REDIS_URL: redis.url };
        const server = http.createServer(hooks.nodeHandler());
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const { port } = server.address() as AddressInfo;
        for (const webhookId of ['r-1', 'r-2']) expect(await send(port, pageEvent({ webhookId }))).toBe(202);
        await hooks.onIdle();
        server.close();

        const listed = await cli(['dead-letters', '--queue', 'cli'], env);
        expect(listed.code).toBe(0);
        expect(listed.stdout).toMatch(/r-1\s+crawl\.page\s+1\s+/);
        expect(JSON.parse((await cli(['stats', '--queue', 'cli', '--json'], env)).stdout)).toEqual({ queued: 0, running: 0, dead: 2, workers: 1 });

        fixed = true;
        expect(await cli(['replay', 'r-2', '--queue', 'cli'], env)).toMatchObject({ code: 0 });
        await waitFor(() => done.includes('r-2'), 'a worker ran r-2');
        expect(await cli(['replay', '--all', '--redis', redis.url, '--queue', 'cli', '--json'])).toMatchObject({
          code: 0,
          stdout: '{"replayed":["r-1"],"missing":[]}\n',
        });
        await waitFor(() => done.includes('r-1'), 'a worker ran r-1');
        await hooks.onIdle();
        expect((await cli(['dead-letters', '--queue', 'cli'], env)).stdout).toBe('No dead letters.\n');
      } finally {
        await hooks.close();
      }
    });

    it('finds every receiver’s queue, shows the receiver of each dead letter, and filters by --receiver', async () => {
      const { close } = await twoReceiversWithDeadLetters({ queue: () => bullmqQueue({ connection: redis.url }) });
      try {
        const env = { SCRAPEHOOK_REDIS_URL: redis.url };
        const all = await cli(['dead-letters'], env);
        expect(all.code).toBe(0);
        expect(all.stdout).toMatch(/^test\s+same\s+crawl\.page\s/m);
        expect(all.stdout).toMatch(/^shout\s+same\s+page\.scraped\s/m);
        expect(all.stdout).toContain('3 dead letters.');
        const shout = JSON.parse((await cli(['dead-letters', '--receiver', 'shout', '--json'], env)).stdout) as { receiver: string; id: string }[];
        expect(shout.map((l) => [l.receiver, l.id])).toEqual([['shout', 'same']]);
        expect(JSON.parse((await cli(['stats', '--receiver', 'test', '--json'], env)).stdout)).toMatchObject({ dead: 2 });
        expect(await cli(['replay', 'only-test', '--receiver', 'shout'], env)).toMatchObject({ code: 1 });
        // Looking creates no queue: a typo or the CLI's own probe is never found as a receiver.
        expect(await cli(['stats', '--receiver', 'typo'], env)).toMatchObject({ code: 0 });
        expect(await findReceiverQueues({ url: redis.url }, 'bull')).toEqual(['scrapehook-shout', 'scrapehook-test']);
      } finally {
        await close();
      }
    });

    it('fails fast with exit 1 when Redis is unreachable, never printing the password', async () => {
      const port = await freePort();
      const result = await cli(['stats', '--redis', `redis://user:s3cret@127.0.0.1:${port}`]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`redis://user:***@127.0.0.1:${port}`);
      expect(result.stderr + result.stdout).not.toContain('s3cret');
    });
  });
});
