// bullmqQueue() and postgresQueue() when their server does not answer: down (halted, then restarted
// on the same port), or up but holding every write longer than enqueueTimeoutMs. Senders are
// answered 503 queue.unavailable with Retry-After at once, no request body waits in the process for
// the server, and what was accepted runs once. What only one backend does stays in
// redis-secrets.test.ts and postgres-faults.test.ts.
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createReceiver, type Receiver } from '../../src/index.ts';
import { serveSigned } from '../helpers/http.ts';
import { lockPostgresTable } from '../helpers/postgres.ts';
import { pauseRedisWrites } from '../helpers/redis.ts';
import { pageEvent, testProvider } from '../helpers/test-provider.ts';
import { forEachDistributed, type CommonQueueOptions, type Distributed } from './distributed.ts';

type Hooks = Receiver<ReturnType<typeof testProvider>>;

// The driver modules as the queues load them (require), so that the spies below see their calls.
const require = createRequire(import.meta.url);
const { Redis } = require('ioredis') as typeof IORedis;
const pg = require('pg') as typeof Pg;

interface FaultBackend {
  /** Holds every write to the queue's server, its connections up, until the answer is called. */
  stall(url: string): Promise<() => Promise<void>>;
  /**
   * Records every command or query any client of the driver sends or queues (an offline queue
   * included) in `sent`, as text: whether a delivery's body or id went towards the server at all.
   * Answers the undo.
   */
  watchSent(sent: string[]): () => void;
}

const text = (arg: unknown) => (Buffer.isBuffer(arg) ? arg.toString() : typeof arg === 'string' ? arg : JSON.stringify(arg));

const FAULTS: Record<Distributed['name'], FaultBackend> = {
  bullmq: {
    // Redis holds every write, the connection up, as in a stall or a network partition.
    stall: pauseRedisWrites,
    watchSent(sent) {
      const real = Redis.prototype.sendCommand;
      const watched = vi.spyOn(Redis.prototype, 'sendCommand').mockImplementation(function (this: IORedis.Redis, command, stream) {
        sent.push(command.args.map(text).join(' '));
        return real.call(this, command, stream);
      });
      return () => watched.mockRestore();
    },
  },
  postgres: {
    // Another session holds the dedupe table: every accept waits, as behind a long migration.
    stall: (url) => lockPostgresTable(url, 'scrapehook.scrapehook_dedupe'),
    watchSent(sent) {
      const real = pg.Client.prototype.query;
      const watched = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: Pg.Client, ...args: unknown[]) {
        sent.push(args.filter((arg) => typeof arg !== 'function').map(text).join(' '));
        return (real as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof real);
      return () => watched.mockRestore();
    },
  },
};

forEachDistributed('distributed-faults', 'when its server does not answer', (backend, h) => {
  const faults = FAULTS[backend.name];
  const sent: string[] = [];
  let unwatch: () => void = () => {};
  beforeAll(() => {
    unwatch = faults.watchSent(sent);
  });
  afterAll(() => unwatch());

  function sentWith(marker: string): string[] {
    return sent.filter((command) => command.includes(marker));
  }

  async function serve(queueOptions: CommonQueueOptions = {}) {
    const hooks: Hooks = createReceiver({
      provider: testProvider(),
      retryAfterSeconds: 7,
      retry: { attempts: 1 },
      queue: backend.queue(h.server().url, { name: h.queueName('faults'), ...queueOptions }),
    });
    const runs: string[] = [];
    hooks.on('crawl.page', (event) => void runs.push(event.id));
    const served = await serveSigned(hooks.nodeHandler());
    h.defer(async () => {
      served.close();
      await hooks.close({ timeoutMs: 5000 });
    });
    return { hooks, runs, post: served.post };
  }

  it(`answers 503 with Retry-After while ${backend.server} is down, holds no body for it, and takes deliveries again once it is back`, async () => {
    const { hooks, runs, post } = await serve();
    const before = pageEvent({ webhookId: 'before-outage' });
    expect((await post(before)).status).toBe(202);
    await hooks.onIdle();
    expect(sentWith('before-outage').length).toBeGreaterThan(0); // the spy sees the queue's commands

    await h.server().halt();
    const first = await post(pageEvent({ webhookId: 'outage-first' }));
    expect(first).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });

    // A burst while the server is down: every request is answered, and none of them is sent or
    // queued for it (a driver's offline queue would hold each body until the server is back).
    const burst = Array.from({ length: 50 }, (_, i) => pageEvent({ webhookId: `burst-${i}` }));
    const answers = await Promise.all(burst.map((event) => post(event)));
    for (const answer of answers) expect(answer).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });
    expect(sentWith('burst-')).toEqual([]);
    expect(hooks.stats().rejected['queue.unavailable']).toBe(51);

    // Back: the connections recover by themselves, and the senders' retries are accepted and handled.
    await h.server().restart();
    const retried = burst[0]!;
    await vi.waitFor(async () => expect((await post(retried)).status).toBe(202), { timeout: 30_000, interval: 100 });
    for (const event of burst.slice(1)) expect((await post(event)).status).toBe(202);
    await hooks.onIdle();
    expect(runs.filter((id) => id.startsWith('burst-')).sort()).toEqual(burst.map((e) => e.webhookId).sort());
    expect(runs.filter((id) => id === 'before-outage')).toHaveLength(1);
  }, 60_000);

  it(`answers 503 when ${backend.server} takes longer than enqueueTimeoutMs; the delivery still runs once, and the retry is a duplicate`, async () => {
    const { hooks, runs, post } = await serve({ enqueueTimeoutMs: 300 });
    await hooks.onIdle(); // the queue's tables or keys exist
    const release = await faults.stall(h.server().url);
    let released = false;
    h.defer(async () => {
      if (!released) await release();
    });

    const slow = pageEvent({ webhookId: 'slow' });
    expect(await post(slow)).toMatchObject({ status: 503, retryAfter: '7', code: 'queue.unavailable' });
    // Its write still waits for the server: the next requests are answered at once and send
    // nothing, so bodies cannot pile up behind a server that does not answer.
    const waiting = Array.from({ length: 20 }, (_, i) => pageEvent({ webhookId: `behind-${i}` }));
    for (const answer of await Promise.all(waiting.map((event) => post(event)))) {
      expect(answer).toMatchObject({ status: 503, code: 'queue.unavailable' });
    }
    expect(sentWith('behind-')).toEqual([]);

    released = true;
    await release();
    // The first write lands after all: its delivery runs, and the sender's retry is a duplicate.
    await vi.waitFor(async () => expect(JSON.parse((await post(slow)).text)).toEqual({ id: 'slow', duplicate: true }), { timeout: 10_000, interval: 50 });
    for (const event of waiting) expect((await post(event)).status).toBe(202);
    await hooks.onIdle();
    expect(runs.filter((id) => id === 'slow')).toEqual(['slow']);
    expect(runs.filter((id) => id.startsWith('behind-'))).toHaveLength(waiting.length);
  }, 60_000);
});
