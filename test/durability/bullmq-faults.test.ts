import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createReceiver, type Receiver } from '../../src/index.ts';
import { bullmqQueue, type BullmqQueueOptions } from '../../src/queue/bullmq-queue.ts';
import { pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';

type Hooks = Receiver<ReturnType<typeof testProvider>>;

describe('bullmqQueue() option enqueueTimeoutMs', () => {
  it('throws a TypeError when it is not a positive integer', () => {
    expect(() => bullmqQueue({ connection: 'redis://h', enqueueTimeoutMs: 0 })).toThrow(TypeError);
    expect(() => bullmqQueue({ connection: 'redis://h', enqueueTimeoutMs: 1.5 })).toThrow(/enqueueTimeoutMs/);
  });
});

describe.runIf(redisTestsEnabled('bullmq-faults'))('bullmqQueue() when Redis does not answer', () => {
  let redis: RedisServer;
  let queueCount = 0;
  const cleanups: (() => Promise<unknown>)[] = [];

  /**
   * Every command any ioredis client of this process sends or queues (offline queue included):
   * whether a delivery's body or id went towards Redis at all.
   */
  const sent: string[] = [];
  const sendCommand = Redis.prototype.sendCommand;
  beforeAll(async () => {
    redis = await startRedis();
    vi.spyOn(Redis.prototype, 'sendCommand').mockImplementation(function (this: Redis, command, stream) {
      sent.push(command.args.map((arg) => (Buffer.isBuffer(arg) ? arg.toString() : String(arg))).join(' '));
      return sendCommand.call(this, command, stream);
    });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    sent.length = 0;
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await redis?.stop();
  });

  function sentWith(marker: string): string[] {
    return sent.filter((command) => command.includes(marker));
  }

  async function serve(queueOptions: Partial<BullmqQueueOptions> = {}) {
    const hooks: Hooks = createReceiver({
      provider: testProvider(),
      retryAfterSeconds: 7,
      queue: bullmqQueue({ connection: redis.url, name: `faults-${process.pid}-${++queueCount}`, countsIntervalMs: 50, ...queueOptions }),
    });
    const runs: string[] = [];
    hooks.on('crawl.page', (event) => void runs.push(event.id));
    const server = http.createServer(hooks.nodeHandler());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    cleanups.push(async () => {
      server.closeAllConnections();
      server.close();
      await hooks.close({ timeoutMs: 5000 });
    });
    /** Posts as a sender would: it gives up after 10 s. */
    async function post(event: Record<string, unknown>) {
      const { body, headers } = signed(event);
      const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      return { status: res.status, retryAfter: res.headers.get('retry-after'), code: res.status === 503 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined, text };
    }
    return { hooks, runs, post };
  }

  it('answers 503 with Retry-After while Redis is down, holds no body for it, and takes deliveries again once it is back', async () => {
    const { hooks, runs, post } = await serve();
    const before = pageEvent({ webhookId: 'before-outage' });
    expect((await post(before)).status).toBe(202);
    await hooks.onIdle();
    expect(sentWith('before-outage').length).toBeGreaterThan(0); // the spy sees the queue's commands

    await redis.halt();
    const first = await post(pageEvent({ webhookId: 'outage-first' }));
    expect(first).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });

    // A burst while Redis is down: every request is answered, and none of them is sent or queued
    // for Redis (ioredis' offline queue would hold each body until Redis is back).
    const burst = Array.from({ length: 50 }, (_, i) => pageEvent({ webhookId: `burst-${i}` }));
    const answers = await Promise.all(burst.map((event) => post(event)));
    for (const answer of answers) expect(answer).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });
    expect(sentWith('burst-')).toEqual([]);
    expect(hooks.stats().rejected['queue.unavailable']).toBe(51);

    // Back: the connection recovers by itself, and the senders' retries are accepted and handled.
    await redis.restart();
    const retried = burst[0]!;
    await vi.waitFor(async () => expect((await post(retried)).status).toBe(202), { timeout: 30_000, interval: 100 });
    for (const event of burst.slice(1)) expect((await post(event)).status).toBe(202);
    await hooks.onIdle();
    expect(runs.filter((id) => id.startsWith('burst-')).sort()).toEqual(burst.map((e) => e.webhookId).sort());
    expect(runs.filter((id) => id === 'before-outage')).toHaveLength(1);
  }, 60_000);

  it('answers 503 when Redis takes longer than enqueueTimeoutMs; the delivery still runs once, and the retry is a duplicate', async () => {
    const { hooks, runs, post } = await serve({ enqueueTimeoutMs: 300 });
    const admin = new Redis(redis.url);
    cleanups.push(async () => {
      await admin.call('CLIENT', 'UNPAUSE');
      admin.disconnect();
    });
    // Redis holds every write (the connection stays up, as in a stall or a network partition).
    await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');

    const slow = pageEvent({ webhookId: 'slow' });
    expect(await post(slow)).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });
    // Its writes are still waiting for Redis: the next requests are answered at once and send
    // nothing, so bodies cannot pile up behind a Redis that does not answer.
    const waiting = Array.from({ length: 20 }, (_, i) => pageEvent({ webhookId: `behind-${i}` }));
    for (const answer of await Promise.all(waiting.map((event) => post(event)))) {
      expect(answer).toMatchObject({ status: 503, code: 'queue.unavailable' });
    }
    expect(sentWith('behind-')).toEqual([]);

    await admin.call('CLIENT', 'UNPAUSE');
    // The first write lands after all: its delivery runs, and the sender's retry is a duplicate.
    await vi.waitFor(async () => expect(JSON.parse((await post(slow)).text)).toEqual({ id: 'slow', duplicate: true }), { timeout: 10_000, interval: 50 });
    for (const event of waiting) expect((await post(event)).status).toBe(202);
    await hooks.onIdle();
    expect(runs.filter((id) => id === 'slow')).toEqual(['slow']);
    expect(runs.filter((id) => id.startsWith('behind-'))).toHaveLength(waiting.length);
  }, 60_000);
});
