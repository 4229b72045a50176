import { describe, expect, it, vi } from 'vitest';
import type { Backend, Claimed, DeliveryCore, Outcome } from '../../../src/core/backend.ts';
import { HandlerRegistry, type AnyHandler } from '../../../src/core/handlers.ts';
import { ReceiverCore } from '../../../src/core/receiver-core.ts';
import { WebhookError } from '../../../src/errors.ts';
import { ImportTracker } from '../../../src/import/progress.ts';
import type { ImportState } from '../../../src/import/types.ts';
import { Instruments } from '../../../src/telemetry/instruments.ts';
import type { Delivery, Logger } from '../../../src/types.ts';
import { deferred, pageEvent, testProvider } from '../../helpers/test-provider.ts';

/** A backend that only records what the core asks of it. */
class FakeBackend implements Backend {
  core!: DeliveryCore;
  readonly recorded: [string, Outcome][] = [];
  /** What record() answers: a promise makes the core wait for it. */
  recordResult: () => void | Promise<void> = () => undefined;
  drainResult: Promise<void> = Promise.resolve();
  readonly closed: boolean[] = [];
  importStates: ImportState | undefined;
  start(core: DeliveryCore) {
    this.core = core;
  }
  enqueue() {
    return 'accepted' as const;
  }
  record(claimed: Claimed, outcome: Outcome) {
    this.recorded.push([claimed.delivery.id, outcome]);
    return this.recordResult();
  }
  counts() {
    return { queued: 0, running: 0 };
  }
  importState() {
    return this.importStates;
  }
  deadLetters() {
    return Promise.resolve([]);
  }
  replay() {
    return Promise.resolve();
  }
  onIdle() {
    return Promise.resolve();
  }
  drain() {
    return this.drainResult;
  }
  close(drained: boolean) {
    this.closed.push(drained);
  }
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at =
    (level: string) =>
    (...args: unknown[]): void =>
      void lines.push(typeof args[0] === 'string' ? { level, obj: {}, msg: args[0] } : { level, obj: args[0] as Record<string, unknown>, msg: String(args[1] ?? '') });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

function setup(options: { attempts?: number; handlerTimeoutMs?: number } = {}) {
  const provider = testProvider();
  const handlers = new HandlerRegistry(provider);
  const backend = new FakeBackend();
  const { logger, lines } = recordingLogger();
  const core = new ReceiverCore({
    provider,
    name: 'test',
    concurrency: 1,
    maxQueued: 10,
    attempts: options.attempts ?? 3,
    minDelayMs: 100,
    maxDelayMs: 1000,
    dedupeTtlMs: 1000,
    handlerTimeoutMs: options.handlerTimeoutMs ?? 60_000,
    logger,
    orderBy: undefined,
    handlers,
    imports: new ImportTracker(),
    instruments: new Instruments('test', provider),
    backend,
    runsHere: true,
  });
  core.start();
  const on = (handler: AnyHandler) => handlers.on('crawl.page', handler);
  return { core, backend, handlers, lines, on };
}

function delivery(payload = pageEvent()): Delivery {
  return { id: payload.webhookId as string, type: 'crawl.page', provider: 'test', payload, receivedAt: new Date(0) };
}

describe('ReceiverCore.attempt(): the state machine', () => {
  it('starts the backend with the receiver’s settings', () => {
    const { core, backend } = setup();
    expect(backend.core).toBe(core);
    expect(core).toMatchObject({ name: 'test', concurrency: 1, maxQueued: 10, attempts: 3, dedupeTtlMs: 1000 });
  });

  it('a success: counts the attempt, has the backend record it, then reports it', async () => {
    const { core, backend, on } = setup();
    const seen: number[] = [];
    on((event) => void seen.push(event.attempt));
    const d = delivery();
    let release!: () => void;
    const recording = deferred();
    backend.recordResult = () => {
      recording.resolve();
      return new Promise<void>((resolve) => (release = resolve));
    };
    const answered = core.attempt({ delivery: d, attemptsSoFar: 1 });
    await recording.promise;
    expect(backend.recorded).toHaveLength(1);
    // Reported only once recorded: a platform told "done" must find it recorded.
    expect(core.counters.succeeded).toBe(0);
    release();
    expect(await answered).toEqual({ kind: 'succeeded', attempts: 2 });
    expect(seen).toEqual([2]);
    expect(backend.recorded).toEqual([[d.id, { kind: 'succeeded', attempts: 2 }]]);
    expect(core.counters.succeeded).toBe(1);
  });

  it('a failure before the last attempt: a retry after the exponential backoff, logged and counted', async () => {
    const { core, backend, lines, on } = setup();
    on(() => {
      throw new Error('database down');
    });
    const first = await core.attempt({ delivery: delivery(), attemptsSoFar: 0 });
    expect(first).toMatchObject({ kind: 'retry', attempts: 1, error: { type: 'handler.failed' } });
    // Equal jitter: between half and all of 100 ms, then of 200 ms.
    expect((first as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(50);
    expect((first as { delayMs: number }).delayMs).toBeLessThanOrEqual(100);
    const second = (await core.attempt({ delivery: delivery(), attemptsSoFar: 1 })) as { delayMs: number };
    expect(second.delayMs).toBeGreaterThanOrEqual(100);
    expect(second.delayMs).toBeLessThanOrEqual(200);
    expect(backend.recorded.map(([, o]) => o.kind)).toEqual(['retry', 'retry']);
    expect(core.counters.retried).toBe(2);
    expect(lines.filter((l) => l.msg === 'scrapehook: a handler failed; retrying')).toHaveLength(2);
    expect(lines[0]!.obj).toMatchObject({ attempt: 1, delayMs: first.kind === 'retry' ? first.delayMs : -1 });
  });

  it('a failure of the last attempt: a dead letter, logged, counted and handed to onError once', async () => {
    const { core, backend, handlers, lines, on } = setup();
    on(() => {
      throw new Error('database down');
    });
    const reported = deferred();
    const onError = vi.fn((..._args: unknown[]) => reported.resolve());
    handlers.subscribe(handlers.error, onError);
    const d = delivery();
    const outcome = await core.attempt({ delivery: d, attemptsSoFar: 2 });
    expect(outcome).toMatchObject({ kind: 'dead', attempts: 3 });
    expect(backend.recorded[0]![1]).toBe(outcome);
    expect(core.counters.dead).toBe(1);
    expect(lines.some((l) => l.level === 'error' && l.msg.includes('is now a dead letter'))).toBe(true);
    await reported.promise;
    expect(onError).toHaveBeenCalledOnce();
    const [error, event] = onError.mock.calls[0]!;
    expect(error).toMatchObject({ type: 'handler.failed' });
    expect(event).toMatchObject({ id: d.id, type: 'crawl.page', attempt: 3 });
  });

  it('an error that says retrying cannot help: a dead letter at the first attempt', async () => {
    const { core, on } = setup();
    on(() => {
      throw Object.assign(new Error('token refused'), { retryable: false });
    });
    expect(await core.attempt({ delivery: delivery(), attemptsSoFar: 0 })).toMatchObject({ kind: 'dead', attempts: 1 });
  });

  it('takes the backend’s own count of attempts allowed over the receiver’s', async () => {
    const { core, on } = setup({ attempts: 5 });
    on(() => {
      throw new Error('still down');
    });
    expect(await core.attempt({ delivery: delivery(), attemptsSoFar: 5, maxAttempts: 6 })).toMatchObject({ kind: 'dead', attempts: 6 });
    expect(await core.attempt({ delivery: delivery(), attemptsSoFar: 0, maxAttempts: 1 })).toMatchObject({ kind: 'dead', attempts: 1 });
  });

  it('does not run again a handler in the claimed skip set, and adds those that succeed', async () => {
    const { core, handlers } = setup();
    const ok = vi.fn();
    let fail = true;
    handlers.on('crawl.page', ok);
    handlers.on('crawl.page', () => {
      if (fail) throw new Error('once');
    });
    const skip = new Set<unknown>();
    const d = delivery();
    expect(await core.attempt({ delivery: d, attemptsSoFar: 0, skip })).toMatchObject({ kind: 'retry' });
    fail = false;
    expect(await core.attempt({ delivery: d, attemptsSoFar: 1, skip })).toMatchObject({ kind: 'succeeded' });
    expect(ok).toHaveBeenCalledOnce();
  });

  it('a handler that times out: a failed attempt of type handler.timeout', async () => {
    const { core, on } = setup({ handlerTimeoutMs: 5 });
    on((_event, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
    expect(await core.attempt({ delivery: delivery(), attemptsSoFar: 0 })).toMatchObject({ kind: 'retry', error: { type: 'handler.timeout' } });
  });

  it('rejects when the backend fails to record, and reports nothing', async () => {
    const { core, backend, on } = setup();
    on(() => {});
    backend.recordResult = () => Promise.reject(new Error('disk full'));
    await expect(core.attempt({ delivery: delivery(), attemptsSoFar: 0 })).rejects.toThrow('disk full');
    expect(core.counters.succeeded).toBe(0);
  });
});

describe('ReceiverCore: bodies kept as received', () => {
  const bodyOf = (value: unknown) => ({ bytes: Buffer.from(JSON.stringify(value)), type: 'json' as const });

  it('validates a kept body again before the handlers see it', async () => {
    const { core, on } = setup();
    const payloads: unknown[] = [];
    on((event) => void payloads.push(event.payload));
    const event = pageEvent();
    const d = { ...delivery(event), payload: undefined };
    expect(await core.attempt({ delivery: d, body: bodyOf(event), attemptsSoFar: 0 })).toMatchObject({ kind: 'succeeded' });
    expect(payloads).toEqual([event]);
  });

  it('makes a body that no longer passes its schema a dead letter at once: recorded and logged, not retried, not handed to onError', async () => {
    const { core, backend, handlers, lines, on } = setup();
    const handler = vi.fn();
    on(handler);
    const onError = vi.fn();
    handlers.subscribe(handlers.error, onError);
    const event = pageEvent({ data: 'not an array' });
    const outcome = await core.attempt({ delivery: { ...delivery(event), payload: undefined }, body: bodyOf(event), attemptsSoFar: 1 });
    expect(outcome).toMatchObject({ kind: 'dead', attempts: 1, error: { type: 'payload.invalid' } });
    expect(backend.recorded).toEqual([[event.webhookId, outcome]]);
    expect(handler).not.toHaveBeenCalled();
    expect(onError).not.toHaveBeenCalled();
    expect(lines.some((l) => l.msg.includes('no longer passes its schema'))).toBe(true);
  });

  it('restore() answers the revived delivery, or records the dead letter and answers undefined', async () => {
    const { core, backend } = setup();
    const good = pageEvent();
    expect((await core.restore({ delivery: { ...delivery(good), payload: undefined }, body: bodyOf(good), attemptsSoFar: 2 }))?.payload).toEqual(good);
    const bad = pageEvent({ type: 'crawl.page', data: 3 });
    expect(await core.restore({ delivery: { ...delivery(bad), payload: undefined }, body: bodyOf(bad), attemptsSoFar: 2 })).toBeUndefined();
    expect(backend.recorded).toMatchObject([[bad.webhookId, { kind: 'dead', attempts: 2 }]]);
  });
});

describe('ReceiverCore: import state', () => {
  it('uses the backend’s import state for a claimed delivery, else one kept in memory', async () => {
    const { core, backend, on } = setup();
    const states: ImportState[] = [];
    on((_event, ctx) => void states.push(ctx.importState));
    await core.attempt({ delivery: delivery(), attemptsSoFar: 0 });
    backend.importStates = { get: vi.fn() } as unknown as ImportState;
    await core.attempt({ delivery: delivery(), attemptsSoFar: 0 });
    expect(states[0]).not.toBe(backend.importStates);
    expect(states[1]).toBe(backend.importStates);
    // receive(): no claimed delivery, so memory, and the value survives for the same id.
    const d = delivery();
    await core.run(d, 1, undefined, undefined);
    await states[2]!.set('k', 'v', 60_000);
    await core.run(d, 1, undefined, undefined);
    expect(await states[3]!.get('k')).toBe('v');
  });
});

describe('ReceiverCore.close(): drain with a timeout', () => {
  it('closes the backend once it drained, and aborts nothing', async () => {
    const { core, backend } = setup();
    await core.close(1000);
    expect(core.closing).toBe(true);
    expect(backend.closed).toEqual([true]);
  });

  it('aborts the running handlers when the drain outlasts the timeout, then closes the backend', async () => {
    const { core, backend, lines, on } = setup();
    let signal: AbortSignal | undefined;
    let onStarted!: () => void;
    const started = new Promise<void>((resolve) => (onStarted = resolve));
    on((_event, ctx) => {
      signal = ctx.signal;
      onStarted();
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)));
    });
    const attempt = core.attempt({ delivery: delivery(), attemptsSoFar: 0 });
    await started;
    backend.drainResult = attempt.then(() => undefined);
    await core.close(10);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toMatchObject({ type: 'handler.timeout' });
    expect(backend.closed).toEqual([false]);
    expect(lines.some((l) => l.msg.includes('close() timed out'))).toBe(true);
    // Aborted while draining: its retry runs at once rather than after a backoff.
    expect(await attempt).toMatchObject({ kind: 'retry', delayMs: 0, error: { type: 'handler.timeout' } });
  });

  it('answers the same promise when called twice', () => {
    const { core } = setup();
    expect(core.close(10)).toBe(core.close(10));
  });
});

describe('ReceiverCore.report()', () => {
  it('reports a dead letter its backend’s engine decided, as one decided here', async () => {
    const { core, handlers } = setup();
    const reported = deferred();
    const onError = vi.fn((..._args: unknown[]) => reported.resolve());
    handlers.subscribe(handlers.error, onError);
    core.report(delivery(), { kind: 'dead', attempts: 2, error: new WebhookError('handler.failed', 'stalled') });
    expect(core.counters.dead).toBe(1);
    await reported.promise;
    expect(onError).toHaveBeenCalledOnce();
    expect(onError.mock.calls[0]![1]).toMatchObject({ attempt: 2 });
  });
});
