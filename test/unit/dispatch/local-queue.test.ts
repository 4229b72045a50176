import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Claimed, DeliveryCore, Outcome } from '../../../src/core/backend.ts';
import { LocalQueue } from '../../../src/dispatch/local-queue.ts';
import { WebhookError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/log.ts';
import { memoryStore } from '../../../src/store/memory-store.ts';
import type { Store } from '../../../src/store/types.ts';
import type { Delivery } from '../../../src/types.ts';

interface Run {
  readonly id: string;
  readonly attemptsSoFar: number;
  readonly maxAttempts: number | undefined;
  readonly skip: Set<unknown> | undefined;
  /** Ends this attempt with `outcome`, as the core would once it decided. */
  finish(outcome?: Outcome): void;
}

/**
 * A core whose attempts are ended by the test: each claimed delivery waits in `runs` until the test
 * finishes it; the queue then records the outcome, as the real core has it do.
 */
function setup(options: { concurrency?: number; maxQueued?: number; orderKey?: (d: Delivery) => string | undefined; store?: Store } = {}) {
  const store = options.store ?? memoryStore();
  const queue = new LocalQueue(store);
  const runs: Run[] = [];
  const waiters: (() => void)[] = [];
  const core: DeliveryCore = {
    name: 'test',
    concurrency: options.concurrency ?? 1,
    maxQueued: options.maxQueued ?? 100,
    attempts: 3,
    dedupeTtlMs: 60_000,
    logger: silentLogger,
    orderKey: options.orderKey ?? (() => undefined),
    async attempt(claimed: Claimed) {
      const outcome = await new Promise<Outcome>((resolve) => {
        const attempts = claimed.attemptsSoFar + 1;
        runs.push({
          id: claimed.delivery.id,
          attemptsSoFar: claimed.attemptsSoFar,
          maxAttempts: claimed.maxAttempts,
          skip: claimed.skip,
          finish: (outcome = { kind: 'succeeded', attempts }) => resolve(outcome),
        });
        for (const wake of waiters.splice(0)) wake();
      });
      const recorded = queue.record(claimed, outcome);
      if (recorded) await recorded;
      return outcome;
    },
    restore: async (claimed) => claimed.delivery,
    revive: async (delivery) => delivery,
    retryDelay: () => 1000,
    report: () => {},
  };
  queue.start(core);
  /** Resolves once `n` attempts have started in all. */
  const started = async (n: number): Promise<Run[]> => {
    while (runs.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    return runs;
  };
  return { queue, store, runs, started };
}

let next = 0;
function delivery(overrides: Partial<Delivery> = {}): Delivery {
  next++;
  return { id: `wh-${next}`, type: 'crawl.page', provider: 'test', payload: { n: next }, receivedAt: new Date(0), ...overrides };
}
const failure = (attempts: number, delayMs: number): Outcome => ({ kind: 'retry', attempts, delayMs, error: new WebhookError('handler.failed', 'down') });

afterEach(() => {
  vi.useRealTimers();
});

describe('LocalQueue', () => {
  it('accepts a delivery into the store, marks it running with its attempt, and records its success', async () => {
    const { queue, store, started } = setup();
    const update = vi.spyOn(store, 'update');
    const d = delivery();
    expect(queue.enqueue(d)).toBe('accepted');
    const [run] = await started(1);
    expect(run).toMatchObject({ id: d.id, attemptsSoFar: 0, maxAttempts: undefined });
    expect(update).toHaveBeenCalledWith(d.id, { state: 'running', attempts: 1 });
    expect(queue.counts()).toEqual({ queued: 0, running: 1 });
    run!.finish();
    await queue.onIdle();
    expect(update).toHaveBeenLastCalledWith(d.id, { state: 'succeeded', attempts: 1 });
    expect(await store.unfinished()).toEqual([]);
    expect(queue.counts()).toEqual({ queued: 0, running: 0 });
  });

  it('answers duplicate for a dedupe id it has seen, and full once maxQueued deliveries wait', async () => {
    const { queue, started } = setup({ maxQueued: 2 });
    const first = delivery();
    expect(queue.enqueue(first)).toBe('accepted');
    expect(queue.enqueue({ ...first })).toBe('duplicate');
    await started(1); // the first runs: it no longer waits
    expect(queue.enqueue(delivery())).toBe('accepted');
    expect(queue.enqueue(delivery())).toBe('accepted');
    expect(queue.counts().queued).toBe(2);
    expect(queue.enqueue(delivery())).toBe('full');
  });

  it('runs a retry after the delay the core chose, outside the concurrency, with its count and skip set', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { queue, store, started } = setup();
    const update = vi.spyOn(store, 'update');
    const d = delivery();
    queue.enqueue(d);
    const [first] = await started(1);
    first!.finish(failure(1, 5000));
    // While it waits, another delivery runs: a waiting retry holds no slot.
    queue.enqueue(delivery());
    const runs = await started(2);
    expect(runs[1]!.id).not.toBe(d.id);
    expect(queue.counts().queued).toBe(1);
    expect(update).toHaveBeenCalledWith(d.id, { state: 'queued', attempts: 1, error: expect.objectContaining({ type: 'handler.failed', message: 'down' }) });
    runs[1]!.finish();
    await vi.advanceTimersByTimeAsync(4999);
    expect(runs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    const [, , retry] = await started(3);
    expect(retry).toMatchObject({ id: d.id, attemptsSoFar: 1 });
    expect(retry!.skip).toBe(first!.skip);
    retry!.finish();
    await queue.onIdle();
  });

  it('runs deliveries of one ordering key one at a time, in arrival order, after a dead letter too', async () => {
    const { queue, started } = setup({ concurrency: 4, orderKey: (d) => (d.payload as { key?: string }).key });
    const a1 = delivery({ payload: { key: 'a' } });
    const a2 = delivery({ payload: { key: 'a' } });
    const b1 = delivery({ payload: { key: 'b' } });
    const free = delivery({ payload: {} });
    for (const d of [a1, a2, b1, free]) queue.enqueue(d);
    const runs = await started(3);
    expect(runs.map((r) => r.id)).toEqual([a1.id, b1.id, free.id]);
    expect(queue.counts().queued).toBe(1); // a2 waits behind a1
    runs[0]!.finish({ kind: 'dead', attempts: 1, error: new WebhookError('handler.failed', 'gone') });
    await started(4);
    expect(runs[3]!.id).toBe(a2.id);
    for (const run of runs.slice(1)) run.finish();
    await queue.onIdle();
  });

  it('keeps a delivery of its key waiting through its predecessor’s retries', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { queue, started, runs } = setup({ concurrency: 4, orderKey: () => 'k' });
    const first = delivery();
    const second = delivery();
    queue.enqueue(first);
    queue.enqueue(second);
    (await started(1))[0]!.finish(failure(1, 100));
    await vi.advanceTimersByTimeAsync(100);
    await started(2);
    expect(runs[1]!.id).toBe(first.id);
    runs[1]!.finish();
    await started(3);
    expect(runs[2]!.id).toBe(second.id);
    runs[2]!.finish();
    await queue.onIdle();
  });

  it('drain() runs waiting retries at once and resolves once nothing runs or waits', async () => {
    const { queue, started } = setup();
    queue.enqueue(delivery());
    (await started(1))[0]!.finish(failure(1, 60_000));
    await vi.waitFor(() => expect(queue.counts()).toEqual({ queued: 1, running: 0 }));
    let drained = false;
    const draining = queue.drain().then(() => (drained = true));
    const [, retry] = await started(2);
    expect(drained).toBe(false);
    retry!.finish();
    await draining;
    expect(queue.counts()).toEqual({ queued: 0, running: 0 });
  });

  it('re-queues at start what the store kept unfinished, with the attempts it made', async () => {
    // A durable store's view after a crash: one delivery was running its second attempt.
    const kept = delivery();
    const store: Store = { ...memoryStore(), unfinished: () => [{ ...kept, state: 'running', attempts: 2 }] };
    const { queue, started } = setup({ store });
    const [run] = await started(1);
    expect(run).toMatchObject({ id: kept.id, attemptsSoFar: 2 });
    run!.finish();
    await queue.onIdle();
  });

  it('replay() runs a dead letter once more, as its last attempt, and rejects with its error if it fails again', async () => {
    const { queue, store, started } = setup();
    const d = delivery();
    queue.enqueue(d);
    const error = new WebhookError('handler.failed', 'still down');
    (await started(1))[0]!.finish({ kind: 'dead', attempts: 3, error });
    await queue.onIdle();
    expect(queue.deadCount()).toBe(1);

    const replayed = queue.replay(d.id);
    const [, again] = await started(2);
    expect(again).toMatchObject({ id: d.id, attemptsSoFar: 3, maxAttempts: 4 });
    again!.finish({ kind: 'dead', attempts: 4, error });
    await expect(replayed).rejects.toBe(error);
    expect((await store.deadLetters())[0]).toMatchObject({ attempts: 4 });

    const fixed = queue.replay(d.id);
    (await started(3))[2]!.finish();
    await fixed;
    expect(queue.deadCount()).toBe(0);
    await expect(queue.replay('nope')).rejects.toThrow(RangeError);
  });

  it('close() releases the store', async () => {
    const { queue, store } = setup();
    const close = vi.spyOn(store, 'close');
    await queue.drain();
    await queue.close(true);
    expect(close).toHaveBeenCalledOnce();
  });
});
