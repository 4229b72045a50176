import http from 'node:http';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebhookError, createReceiver, memoryStore, sqliteStore, type Receiver, type ReceiverOptions } from '../../src/index.ts';
import { serverTarget } from '../helpers/adapters.ts';
import { recordingLogger } from '../helpers/recorder.ts';
import { deferred, pageEvent, signed, testProvider } from '../helpers/test-provider.ts';

type TestProvider = ReturnType<typeof testProvider>;

const receivers: Receiver<TestProvider>[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close({ timeoutMs: 1000 })));
});

function setup(options: Partial<ReceiverOptions<TestProvider>> = {}) {
  const hooks = createReceiver({ provider: testProvider(), retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 5 }, ...options });
  receivers.push(hooks);
  const app = express();
  app.post('/hook', hooks.middleware());
  const deliver = (event: Record<string, unknown> = pageEvent()) => {
    const { body, headers } = signed(event);
    return request(app).post('/hook').set(headers).send(body);
  };
  return { hooks, deliver };
}

describe('retries and dead letters', () => {
  it('retries a throwing handler, then dead-letters it and calls onError once', async () => {
    const { hooks, deliver } = setup();
    const attempts: number[] = [];
    hooks.on('crawl.page', (event) => {
      attempts.push(event.attempt);
      throw new Error('database down');
    });
    const onError = vi.fn();
    hooks.onError(onError);
    const event = pageEvent();
    expect((await deliver(event)).status).toBe(202);
    await hooks.onIdle();
    expect(attempts).toEqual([1, 2, 3]);
    expect(onError).toHaveBeenCalledOnce();
    const [error, failed] = onError.mock.calls[0]!;
    expect(error).toBeInstanceOf(WebhookError);
    expect(error.type).toBe('handler.failed');
    expect((error.cause as Error).message).toBe('database down');
    expect(failed).toMatchObject({ id: event.webhookId, type: 'crawl.page', attempt: 3 });
    const dead = await hooks.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ id: event.webhookId, attempts: 3, event: { type: 'crawl.page', payload: event } });
    expect(dead[0]!.error.message).toContain('database down');
    expect(hooks.stats()).toMatchObject({ accepted: 1, retried: 2, dead: 1, succeeded: 0 });
  });

  it('replay() runs a dead letter again and removes it once it succeeds', async () => {
    const { hooks, deliver } = setup({ retry: { attempts: 1 } });
    let healthy = false;
    const imported: string[] = [];
    hooks.on('crawl.page', (event) => {
      if (!healthy) throw new Error('not yet');
      imported.push(event.id);
    });
    const event = pageEvent();
    await deliver(event);
    await hooks.onIdle();
    expect(await hooks.deadLetters()).toHaveLength(1);

    await expect(hooks.replay(event.webhookId as string)).rejects.toThrow(/handler failed/);
    expect((await hooks.deadLetters())[0]!.attempts).toBe(2);

    healthy = true;
    await hooks.replay(event.webhookId as string);
    expect(imported).toEqual([event.webhookId]);
    expect(await hooks.deadLetters()).toEqual([]);
    await expect(hooks.replay('no-such-id')).rejects.toThrow(RangeError);
  });

  it('does not run a handler that already succeeded again when another handler is retried', async () => {
    const { hooks, deliver } = setup();
    const ok = vi.fn();
    let failures = 1;
    hooks.on('crawl.page', ok);
    hooks.on('crawl.*', () => {
      if (failures-- > 0) throw new Error('once');
    });
    await deliver();
    await hooks.onIdle();
    expect(ok).toHaveBeenCalledOnce();
    expect(hooks.stats()).toMatchObject({ retried: 1, succeeded: 1, dead: 0 });
  });

  it('aborts ctx.signal and fails the attempt when a handler outlives handlerTimeoutMs', async () => {
    const { hooks, deliver } = setup({ handlerTimeoutMs: 20, retry: { attempts: 1 } });
    const aborted = deferred<unknown>();
    hooks.on('crawl.page', (_event, ctx) => {
      ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason));
      return new Promise(() => {});
    });
    const onError = vi.fn();
    hooks.onError(onError);
    await deliver();
    const reason = await aborted.promise;
    expect(reason).toBeInstanceOf(WebhookError);
    await hooks.onIdle();
    expect(onError.mock.calls[0]![0].type).toBe('handler.timeout');
  });

  it('times out each of several calls on its own deadline, and only those that outlive it', async () => {
    const { hooks, deliver } = setup({ handlerTimeoutMs: 50, concurrency: 5, retry: { attempts: 1 } });
    const slowStarted = deferred<void>();
    const release = deferred<void>();
    hooks.on('crawl.page', async (event) => {
      const id = event.payload.webhookId;
      if (id.startsWith('hang')) return new Promise(() => {});
      if (id === 'slow-ok') {
        slowStarted.resolve();
        await release.promise;
      }
    });
    const dead: string[] = [];
    const firstDead = deferred<void>();
    hooks.onError((error, event) => {
      dead.push(`${event.id}:${error.type}`);
      firstDead.resolve();
    });
    await deliver(pageEvent({ webhookId: 'hang-1' }));
    await deliver(pageEvent({ webhookId: 'fast' }));
    await firstDead.promise;
    expect(dead).toEqual(['hang-1:handler.timeout']);
    // Started after that timeout: each runs against its own deadline.
    await deliver(pageEvent({ webhookId: 'hang-2' }));
    await deliver(pageEvent({ webhookId: 'slow-ok' }));
    await slowStarted.promise;
    release.resolve();
    await hooks.onIdle();
    expect(dead).toEqual(['hang-1:handler.timeout', 'hang-2:handler.timeout']);
    expect(hooks.stats()).toMatchObject({ succeeded: 2, dead: 2 });
  });

  it('survives a throwing onError listener and a rejecting async handler', async () => {
    const { hooks, deliver } = setup({ retry: { attempts: 1 } });
    hooks.on('crawl.page', async () => Promise.reject(new Error('async failure')));
    hooks.onError(() => {
      throw new Error('listener bug');
    });
    const after = vi.fn();
    hooks.onError(after);
    await deliver();
    await hooks.onIdle();
    expect(after).toHaveBeenCalledOnce();
    expect(hooks.stats().dead).toBe(1);
  });
});

describe('the answer before the work', () => {
  // The pipeline rows check this for every adapter over the memory store; a SQLite store accepts
  // asynchronously (after its group commit), and its deliveries must still start after the answer.
  it('answers before a handler starts, even one that works synchronously (SQLite store)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapehook-answer-first-'));
    const hooks = createReceiver({ provider: testProvider(), store: sqliteStore({ path: join(dir, 'hooks.db') }) });
    const app = express();
    app.post('/hook', hooks.middleware());
    const target = serverTarget(http.createServer(app));
    try {
      const seen: string[] = [];
      hooks.on('crawl.page', (event) => {
        seen.push(`${event.payload.webhookId}: ${target.answered() ? 'answer written' : 'answer not written'}`);
      });
      const { body, headers } = signed(pageEvent({ webhookId: 'first' }));
      expect((await target.send({ headers, body })).status).toBe(202);
      await hooks.onIdle();
      expect(seen).toEqual(['first: answer written']);
    } finally {
      await hooks.close();
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backpressure', () => {
  it('answers 503 with Retry-After when maxQueued deliveries wait, and loses none it accepted', async () => {
    const { hooks, deliver } = setup({ concurrency: 1, maxQueued: 2, retryAfterSeconds: 3 });
    const gate = deferred();
    const handled: string[] = [];
    hooks.on('crawl.page', async (event) => {
      await gate.promise;
      handled.push(event.id);
    });
    const events = Array.from({ length: 4 }, () => pageEvent());
    const statuses: number[] = [];
    for (const event of events) {
      const res = await deliver(event);
      statuses.push(res.status);
      if (res.status === 503) {
        expect(res.headers['retry-after']).toBe('3');
        expect(res.body.error.code).toBe('queue.full');
      }
    }
    // One runs (blocked), two wait, the fourth is refused.
    expect(statuses).toEqual([202, 202, 202, 503]);
    gate.resolve();
    await hooks.onIdle();
    expect(handled).toEqual(events.slice(0, 3).map((e) => e.webhookId));
    // The refused delivery was not remembered as a duplicate: the sender's retry goes through.
    expect((await deliver(events[3])).status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveLength(4);
  });
});

describe('close()', () => {
  it('drains running and queued work, then resolves', async () => {
    const { hooks, deliver } = setup({ concurrency: 1 });
    const gate = deferred();
    const handled: string[] = [];
    hooks.on('crawl.page', async (event) => {
      await gate.promise;
      handled.push(event.id);
    });
    for (let i = 0; i < 3; i++) expect((await deliver()).status).toBe(202);
    const closed = hooks.close();
    expect((await deliver()).status).toBe(503);
    gate.resolve();
    await closed;
    expect(handled).toHaveLength(3);
    expect(hooks.stats()).toMatchObject({ queued: 0, running: 0, succeeded: 3 });
  });

  it('runs waiting retries at once instead of dropping them', async () => {
    const { hooks, deliver } = setup({ retry: { attempts: 2, minDelayMs: 60_000, maxDelayMs: 60_000 } });
    const attempts: number[] = [];
    const firstFailed = deferred();
    hooks.on('crawl.page', (event) => {
      attempts.push(event.attempt);
      if (event.attempt === 1) {
        firstFailed.resolve();
        throw new Error('transient');
      }
    });
    await deliver();
    await firstFailed.promise;
    await hooks.close({ timeoutMs: 5000 });
    expect(attempts).toEqual([1, 2]);
    expect(hooks.stats().succeeded).toBe(1);
  });

  it('closes the store once the queue has drained', async () => {
    const store = memoryStore();
    const closed = vi.fn(() => store.close());
    const { hooks, deliver } = setup({ store: { ...store, close: closed } });
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    await deliver();
    await hooks.close();
    expect(handled).toHaveBeenCalledOnce();
    expect(closed).toHaveBeenCalledOnce();
  });

  it('keeps receiving when the store cannot list what it kept, and logs it', async () => {
    const errors: string[] = [];
    const log = () => {};
    const logger = { debug: log, info: log, warn: log, error: (_obj: unknown, msg?: string) => void errors.push(msg ?? '') };
    const store = memoryStore();
    const { hooks, deliver } = setup({
      logger,
      store: {
        ...store,
        unfinished: () => {
          throw new Error('disk gone');
        },
      },
    });
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    expect((await deliver()).status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
    expect(errors.some((m) => /could not re-queue/.test(m))).toBe(true);
  });

  it('aborts handlers still running when timeoutMs passes', async () => {
    const { hooks, deliver } = setup();
    const aborted = deferred();
    const started = deferred();
    hooks.on('crawl.page', (_event, ctx) => {
      started.resolve();
      ctx.signal.addEventListener('abort', () => aborted.resolve());
      return new Promise(() => {});
    });
    await deliver();
    await started.promise;
    await hooks.close({ timeoutMs: 10 });
    await aborted.promise;
  });
});

describe('receiver.on()', () => {
  it('dispatches to exact names, dotted wildcards, aliases and onAny, and stops after unsubscribe', async () => {
    const { hooks, deliver } = setup();
    const calls: string[] = [];
    hooks.on('crawl.page', () => void calls.push('exact'));
    const off = hooks.on('crawl.*', () => void calls.push('wildcard'));
    hooks.on('page', () => void calls.push('alias'));
    hooks.on(['crawl.started', 'crawl.completed'], () => void calls.push('list'));
    hooks.on('extract.*', () => void calls.push('other'));
    hooks.onAny(() => void calls.push('any'));
    await deliver();
    await hooks.onIdle();
    expect(calls.sort()).toEqual(['alias', 'any', 'exact', 'wildcard']);
    calls.length = 0;
    off();
    await deliver({ type: 'crawl.started', id: 'c', webhookId: 'started-1' });
    await hooks.onIdle();
    expect(calls.sort()).toEqual(['any', 'list']);
  });

  it('rejects "*" and "error" with a pointer to onAny and onError', () => {
    const { hooks } = setup();
    // @ts-expect-error '*' is not an event pattern
    expect(() => hooks.on('*', () => {})).toThrow(/onAny/);
    // @ts-expect-error 'error' is not an event pattern
    expect(() => hooks.on('error', () => {})).toThrow(/onError/);
  });
});

describe('a delivery with no handler registered', () => {
  const NO_HANDLER = /ran before any handler was registered/;

  it('warns once when deliveries kept from before a restart run before any handler is registered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scrapehook-no-handler-'));
    try {
      const path = join(dir, 'hooks.db');
      // First life: the delivery is stored, and its handler never finishes before close() gives up.
      const first = setup({ store: sqliteStore({ path }) });
      const started = deferred();
      first.hooks.on('crawl.page', (_event, ctx) => {
        started.resolve();
        return new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      });
      expect((await first.deliver(pageEvent({ webhookId: 'kept-1' }))).status).toBe(202);
      expect((await first.deliver(pageEvent({ webhookId: 'kept-2' }))).status).toBe(202);
      await started.promise;
      await first.hooks.close({ timeoutMs: 0 });

      // Second life, written as a worker that awaits something before registering its handlers.
      const { logger, lines } = recordingLogger();
      const second = setup({ store: sqliteStore({ path }), logger });
      await second.hooks.onIdle();
      const warned = lines.filter((line) => line.level === 'warn' && NO_HANDLER.test(line.msg ?? ''));
      expect(warned).toHaveLength(1);
      expect(warned[0]!.obj).toMatchObject({ type: 'crawl.page' });
      expect(['kept-1', 'kept-2']).toContain((warned[0]!.obj as { id: string }).id);
      expect(second.hooks.stats()).toMatchObject({ succeeded: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not warn when handlers exist, only none for this event type', async () => {
    const { logger, lines } = recordingLogger();
    const { hooks, deliver } = setup({ logger });
    hooks.on('crawl.completed', () => {});
    expect((await deliver(pageEvent())).status).toBe(202);
    await hooks.onIdle();
    expect(hooks.stats()).toMatchObject({ succeeded: 1 });
    expect(lines.filter((line) => NO_HANDLER.test(line.msg ?? ''))).toEqual([]);
  });
});

describe('orderBy', () => {
  it('runs events with the same key one at a time in arrival order, other keys in parallel', async () => {
    const { hooks, deliver } = setup({ concurrency: 4, orderBy: (event) => (event.payload as { id: string }).id });
    const log: string[] = [];
    const gate = deferred();
    const bRan = deferred();
    let running = 0;
    let maxRunningA = 0;
    hooks.on('crawl.*', async (event) => {
      const key = (event.payload as { id: string }).id;
      if (key === 'A') maxRunningA = Math.max(maxRunningA, ++running);
      if (event.type === 'crawl.started' && key === 'A') await gate.promise;
      log.push(`${key}:${event.type}`);
      if (key === 'B') bRan.resolve();
      if (key === 'A') running--;
    });
    await deliver({ type: 'crawl.started', id: 'A', webhookId: 'a1' });
    await deliver(pageEvent({ id: 'A' }));
    await deliver({ type: 'crawl.completed', id: 'A', webhookId: 'a3' });
    await deliver({ type: 'crawl.started', id: 'B', webhookId: 'b1' });
    // B runs while A's first event holds its key: A's later events wait behind it, B does not.
    await bRan.promise;
    expect(log).toEqual(['B:crawl.started']);
    gate.resolve();
    await hooks.onIdle();
    expect(log).toEqual(['B:crawl.started', 'A:crawl.started', 'A:crawl.page', 'A:crawl.completed']);
    expect(maxRunningA).toBe(1);
  });
});

describe('receiver.receive()', () => {
  it('validates and runs the handlers directly, rejecting with the handler error', async () => {
    const { hooks } = setup();
    const seen = vi.fn();
    hooks.on('crawl.page', seen);
    await hooks.receive({ type: 'crawl.page', payload: pageEvent({ webhookId: 'direct' }) });
    expect(seen.mock.calls[0]![0]).toMatchObject({ id: 'direct', type: 'crawl.page', attempt: 1 });
    await expect(hooks.receive({ type: 'crawl.page', payload: { type: 'crawl.page' } })).rejects.toMatchObject({ type: 'payload.invalid' });
    hooks.on('crawl.page', () => {
      throw new Error('boom');
    });
    await expect(hooks.receive({ type: 'crawl.page', payload: pageEvent() })).rejects.toMatchObject({ type: 'handler.failed' });
  });
});

describe('createReceiver() options', () => {
  it.each([
    [{ concurrency: 0 }, /`concurrency` to be a positive integer, got 0/],
    [{ maxQueued: 1.5 }, /`maxQueued`/],
    [{ limit: 'ten megabytes' }, /`limit`/],
    [{ retry: { attempts: -1 } }, /`retry.attempts`/],
    [{ dedupe: { ttlMs: 0 } }, /`dedupe.ttlMs`/],
    [{ orderBy: 'id' }, /`orderBy` to be a function/],
  ])('throws a TypeError for %j', (options, message) => {
    expect(() => createReceiver({ provider: testProvider(), ...(options as object) })).toThrow(TypeError);
    expect(() => createReceiver({ provider: testProvider(), ...(options as object) })).toThrow(message);
  });
});
