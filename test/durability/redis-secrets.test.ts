import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createReceiver, type WebhookError } from '../../src/index.ts';
import { bullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { recordingLogger, rendered } from '../helpers/secrets.ts';
import { deferred, pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';

describe.runIf(redisTestsEnabled('redis-secrets'))('errors from Redis in logs and onError', () => {
  let redis: RedisServer;
  let admin: Redis;
  let queueCount = 0;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
    await admin.connect();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });

  async function listen(handler: http.RequestListener): Promise<(event: Record<string, unknown>) => Promise<number>> {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    cleanups.push(async () => {
      server.closeAllConnections();
      server.close();
    });
    return async (event) => {
      const { body, headers } = signed(event);
      const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body, headers });
      await res.arrayBuffer();
      return res.status;
    };
  }

  it('never logs the old or the new password, nor a body, when the Redis password changes under a running receiver', async () => {
    const oldPassword = `old-pw-${process.pid}-x7Q`;
    const newPassword = `new-pw-${process.pid}-k9Z`;
    const marker = `BODY-SECRET-${process.pid}-a1`;
    await admin.config('SET', 'requirepass', oldPassword);
    cleanups.push(() => admin.config('SET', 'requirepass', ''));
    const logged = deferred();
    // Resolved by the first error Redis gave for the stale password (each connection logs one).
    const { logger, calls } = recordingLogger((call) => {
      if (/WRONGPASS|NOAUTH/.test(inspect(call))) logged.resolve();
    });
    const hooks = createReceiver({
      provider: testProvider(),
      logger,
      retry: { attempts: 1 },
      queue: bullmqQueue({ connection: `redis://:${oldPassword}@127.0.0.1:${redis.port}`, name: `secrets-${process.pid}-${++queueCount}` }),
    });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    const post = await listen(hooks.nodeHandler());
    const seen: string[] = [];
    hooks.onAny((event) => void seen.push(event.id));

    expect(await post(pageEvent({ data: [{ markdown: marker }] }))).toBe(202);
    await hooks.onIdle();

    // The password changes and every connection drops: the receiver reconnects with the old one.
    await admin.config('SET', 'requirepass', newPassword);
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await logged.promise;
    expect(calls.length).toBeGreaterThan(0);

    // Back to the password the receiver has: it recovers by itself. Until it has reconnected it
    // answers 503 queue.unavailable, so retry as a sender would.
    await admin.config('SET', 'requirepass', oldPassword);
    const second = pageEvent({ data: [{ markdown: marker }] });
    await vi.waitFor(async () => expect(await post(second)).toBe(202), { timeout: 30_000, interval: 100 });
    await hooks.onIdle();
    expect(seen).toContain(second.webhookId);
    await hooks.close({ timeoutMs: 5000 });

    const text = rendered(calls);
    expect(text).toMatch(/WRONGPASS|NOAUTH|invalid username-password/i);
    expect(text).not.toContain(oldPassword);
    expect(text).not.toContain(newPassword);
    expect(text).not.toContain(marker);
  }, 40_000);

  it('never logs nor hands to onError the body of a write Redis refused for lack of memory', async () => {
    const marker = `BODY-SECRET-${process.pid}-b2`;
    const { logger, calls } = recordingLogger();
    const hooks = createReceiver({
      provider: testProvider(),
      logger,
      retry: { attempts: 1 },
      queue: bullmqQueue({ connection: redis.url, name: `secrets-${process.pid}-${++queueCount}` }),
    });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    // The app's own Redis client, as a handler might use it to keep a copy of the payload.
    const own = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    cleanups.push(async () => own.disconnect());
    const post = await listen(hooks.nodeHandler());
    const started = deferred();
    const gate = deferred();
    hooks.onAny(async (event) => {
      started.resolve();
      await gate.promise;
      await own.set(`copy:${event.id}`, JSON.stringify(event.payload));
    });
    const failed = deferred<WebhookError>();
    hooks.onError((error) => failed.resolve(error));

    expect(await post(pageEvent({ data: [{ markdown: marker }] }))).toBe(202);
    await started.promise;
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    cleanups.unshift(() => admin.config('SET', 'maxmemory', '0'));
    gate.resolve();
    const error = await failed.promise;
    expect(error.type).toBe('handler.failed');
    expect(inspect(error)).toMatch(/OOM/);

    // A delivery Redis cannot store is refused with a 5xx; its body is in the failed command.
    expect(await post(pageEvent({ data: [{ markdown: marker }] }))).toBeGreaterThanOrEqual(500);
    await admin.config('SET', 'maxmemory', '0');
    await hooks.close({ timeoutMs: 5000 });

    expect(calls.some(([level]) => level === 'error')).toBe(true);
    const text = rendered(calls);
    expect(text).toMatch(/OOM/);
    expect(text).not.toContain(marker);
    expect(rendered(error)).not.toContain(marker);
  });
});
