// bullmqQueue() and postgresQueue() held to the same behaviour on a real server: accepting,
// deduplicating across receivers, dead letters and replay, timeouts, maxQueued, orderBy across
// receivers, close(). Rows that only one of them has stay in bullmq-queue.test.ts and
// postgres-queue.test.ts; retrying with backoff is the contract suite's row 'retries with backoff'
// (test/contract/handlers.test.ts), which asserts more than the copy that was here.
import { describe, expect, it, vi } from 'vitest';
import { createReceiver, type Receiver, type ReceiverOptions } from '../../src/index.ts';
import { serveSigned } from '../helpers/http.ts';
import { deferred, pageEvent, testProvider } from '../helpers/test-provider.ts';
import { DISTRIBUTED, forEachDistributed, type CommonQueueOptions } from './distributed.ts';

type TestProvider = ReturnType<typeof testProvider>;
type Hooks = Receiver<TestProvider>;

describe.each(DISTRIBUTED)('$factory options', (backend) => {
  it('throws a TypeError for a connection that is not a URL of its server, or a duration that is not a positive integer', () => {
    expect(() => backend.make({ connection: 'http://localhost' })).toThrow(TypeError);
    expect(() => backend.make({ connection: 42 })).toThrow(TypeError);
    expect(() => backend.make({ connection: backend.exampleUrl, lockDurationMs: 0 })).toThrow(/lockDurationMs/);
    expect(() => backend.make({ connection: backend.exampleUrl, enqueueTimeoutMs: 0 })).toThrow(TypeError);
    expect(() => backend.make({ connection: backend.exampleUrl, enqueueTimeoutMs: 1.5 })).toThrow(/enqueueTimeoutMs/);
  });

  it(`never shows a password in an error message`, () => {
    expect(() => backend.make({ connection: 'tcp://user:s3cret@host' })).toThrow(/\*\*\*/);
    expect(() => backend.make({ connection: 'tcp://user:s3cret@host' })).not.toThrow(/s3cret/);
    expect(() => backend.make({ connection: 'not a url s3cret' })).toThrow(/\[invalid url\]/);
    expect(() => backend.make({ connection: 'not a url s3cret' })).not.toThrow(/s3cret/);
  });
});

forEachDistributed('distributed-queue', 'on its server', (backend, h) => {
  async function serve(name: string, options: Partial<ReceiverOptions<TestProvider>> = {}, queueOptions: CommonQueueOptions = {}) {
    const hooks: Hooks = createReceiver({
      provider: testProvider(),
      retry: { attempts: 3, minDelayMs: 10, maxDelayMs: 20 },
      ...options,
      queue: backend.queue(h.server().url, { name, ...queueOptions }),
    });
    const served = await serveSigned(hooks.nodeHandler());
    h.defer(async () => {
      served.close();
      await hooks.close({ timeoutMs: 5000 });
    });
    return { hooks, post: served.post };
  }

  it(`acknowledges with 202 and runs the handlers with the event from ${backend.server}`, async () => {
    const { hooks, post } = await serve(h.queueName());
    const handled = deferred<{ id: string; type: string; receivedAt: unknown; attempt: number; payload: unknown }>();
    hooks.on('crawl.page', (event) => handled.resolve(event));
    const event = pageEvent();
    expect(await post(event)).toMatchObject({ status: 202, text: JSON.stringify({ id: event.webhookId }) });
    const seen = await handled.promise;
    expect(seen).toMatchObject({ id: event.webhookId, type: 'crawl.page', attempt: 1, payload: event });
    expect(seen.receivedAt).toBeInstanceOf(Date);
    await hooks.onIdle();
    expect(hooks.stats()).toMatchObject({ accepted: 1, succeeded: 1, queued: 0, running: 0 });
  });

  it('answers 200 duplicate for an id another receiver on the queue accepted, also after it finished', async () => {
    const name = h.queueName();
    const [a, b] = [await serve(name), await serve(name)];
    const runs: string[] = [];
    for (const { hooks } of [a, b]) hooks.onAny((event) => void runs.push(event.id));
    const event = pageEvent();
    const answers = await Promise.all([a.post(event), b.post(event)]);
    expect(answers.map((x) => x.status).sort()).toEqual([200, 202]);
    await a.hooks.onIdle();
    // The job is gone (removed on success); the dedupe id is not.
    expect((await b.post(event)).status).toBe(200);
    expect((await a.post(event)).text).toContain('"duplicate":true');
    await a.hooks.onIdle();
    expect(runs).toEqual([event.webhookId]);
  });

  it('keeps ids with ":", "%" and "0" apart', async () => {
    const { hooks, post } = await serve(h.queueName());
    const runs: string[] = [];
    hooks.onAny((event) => void runs.push(event.id));
    const ids = ['a:b', 'a%3Ab', 'a%253Ab', '0', '%30'];
    for (const id of ids) expect((await post(pageEvent({ webhookId: id }))).status).toBe(202);
    for (const id of ids) expect((await post(pageEvent({ webhookId: id }))).status).toBe(200);
    await hooks.onIdle();
    expect(runs.sort()).toEqual([...ids].sort());
  });

  it('dispatches every delivery with dedupe: false', async () => {
    const { hooks, post } = await serve(h.queueName(), { dedupe: false });
    const runs: string[] = [];
    hooks.onAny((event) => void runs.push(event.id));
    const event = pageEvent();
    expect((await post(event)).status).toBe(202);
    expect((await post(event)).status).toBe(202);
    await hooks.onIdle();
    expect(runs).toEqual([event.webhookId, event.webhookId]);
  });

  it('makes a dead letter after the last attempt, visible from every receiver, and replay() runs it once more', async () => {
    const name = h.queueName();
    const a = await serve(name, { retry: { attempts: 2, minDelayMs: 10, maxDelayMs: 10 } });
    const b = await serve(name, {}, { workers: false });
    let fixed = false;
    const runs: number[] = [];
    a.hooks.onAny((event) => {
      runs.push(event.attempt);
      if (!fixed) throw new Error('downstream is down');
    });
    const failures = deferred<{ type: string; id: string; attempt: number }>();
    a.hooks.onError((error, event) => failures.resolve({ type: error.type, id: event.id, attempt: event.attempt }));
    const event = pageEvent();
    await a.post(event);
    expect(await failures.promise).toEqual({ type: 'handler.failed', id: event.webhookId, attempt: 2 });
    await a.hooks.onIdle();

    const letters = await b.hooks.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      id: event.webhookId,
      attempts: 2,
      event: { id: event.webhookId, type: 'crawl.page', payload: event, attempt: 2 },
      error: { type: 'handler.failed', message: 'A crawl.page handler failed: downstream is down' },
    });
    expect(letters[0]!.event.receivedAt).toBeInstanceOf(Date);
    expect(a.hooks.stats()).toMatchObject({ retried: 1 });
    // `dead` is read from the server's count, which the backend refreshes every countsIntervalMs.
    await vi.waitFor(() => expect(a.hooks.stats().dead).toBe(1), { timeout: 10_000, interval: 50 });

    // A replay that fails again rejects and leaves it a dead letter; one that succeeds resolves.
    await expect(b.hooks.replay(event.webhookId as string)).rejects.toMatchObject({ type: 'handler.failed' });
    expect(await a.hooks.deadLetters()).toHaveLength(1);
    fixed = true;
    await b.hooks.replay(event.webhookId as string);
    expect(await a.hooks.deadLetters()).toEqual([]);
    expect(runs).toEqual([1, 2, 3, 4]);
    await expect(b.hooks.replay('nope')).rejects.toThrow(RangeError);
  });

  it('records a handler timeout as handler.timeout', async () => {
    const { hooks, post } = await serve(h.queueName(), { handlerTimeoutMs: 50, retry: { attempts: 1 } });
    hooks.onAny((_event, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));
    await post(pageEvent());
    await hooks.onIdle();
    const [letter] = await hooks.deadLetters();
    expect(letter?.error.type).toBe('handler.timeout');
  });

  it(`answers 503 queue.full once maxQueued deliveries wait, counting locally between reads of ${backend.server}`, async () => {
    const { hooks, post } = await serve(h.queueName(), { maxQueued: 3 }, { workers: false, countsIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) expect((await post(pageEvent())).status).toBe(202);
    const full = await post(pageEvent());
    expect(full.status).toBe(503);
    expect(full.text).toContain('queue.full');
    expect(hooks.stats().queued).toBe(3);
  });

  it('orderBy: runs same-key deliveries one at a time in arrival order across receivers, other keys in parallel', async () => {
    const name = h.queueName();
    const orderBy = (event: { payload: unknown }) => (event.payload as { id: string }).id;
    const receivers = [await serve(name, { orderBy, concurrency: 4 }), await serve(name, { orderBy, concurrency: 4 })];
    const running = new Map<string, number>();
    const order = new Map<string, string[]>();
    const otherKeyStarted = deferred();
    let overlaps = 0;
    for (const { hooks } of receivers) {
      hooks.onAny(async (event) => {
        const key = orderBy(event);
        if ((running.get(key) ?? 0) > 0) overlaps++;
        running.set(key, (running.get(key) ?? 0) + 1);
        if (key === 'k2') otherKeyStarted.resolve();
        // The first k1 delivery holds its key until a k2 delivery runs: k2 must not wait behind k1.
        if (event.id === 'k1-0') await otherKeyStarted.promise;
        await new Promise((resolve) => setTimeout(resolve, 5));
        order.set(key, [...(order.get(key) ?? []), event.id]);
        running.set(key, running.get(key)! - 1);
      });
    }
    const sent: Record<string, string[]> = { k1: [], k2: [] };
    for (let i = 0; i < 8; i++) {
      for (const key of ['k1', 'k2']) {
        const id = `${key}-${i}`;
        sent[key]!.push(id);
        expect((await receivers[i % 2]!.post(pageEvent({ id: key, webhookId: id }))).status).toBe(202);
      }
    }
    await receivers[0]!.hooks.onIdle();
    expect(overlaps).toBe(0);
    expect(order.get('k1')).toEqual(sent.k1);
    expect(order.get('k2')).toEqual(sent.k2);
  });

  it(`close() waits for the running handler; queued deliveries stay in ${backend.server} for another receiver`, async () => {
    const name = h.queueName();
    const first = await serve(name, { concurrency: 1 });
    const release = deferred();
    const started = deferred();
    const runs: string[] = [];
    first.hooks.onAny(async (event) => {
      started.resolve();
      await release.promise;
      runs.push(`first ${event.id}`);
    });
    const [one, two] = [pageEvent(), pageEvent()];
    await first.post(one);
    await first.post(two);
    await started.promise;
    const closed = first.hooks.close({ timeoutMs: 5000 });
    release.resolve();
    await closed;
    expect(runs).toEqual([`first ${one.webhookId}`]);

    const second = await serve(name);
    second.hooks.onAny((event) => void runs.push(`second ${event.id}`));
    await second.hooks.onIdle();
    expect(runs).toEqual([`first ${one.webhookId}`, `second ${two.webhookId}`]);
  });
});
