// Contract suite, ordering and shutting down: orderBy (same key one at a time in arrival order,
// different keys in parallel); close() draining, answering 503 meanwhile, and aborting at its timeout.
import { expect } from 'vitest';
import { deferred, delivery, forEachBackend, Log, marked, markOf } from './harness.ts';

forEachBackend('contract: ordering and closing', (h) => {
  h.row('orderBy')('runs deliveries with the same key one at a time in arrival order, other keys in parallel', async () => {
    const r = await h.serve(h.world(), { concurrency: 4, orderBy: (event) => markOf(event)?.split(':')[0] });
    const log = new Log();
    const gates = new Map(['A:1', 'A:2', 'A:3'].map((mark) => [mark, deferred()]));
    r.hooks.on('crawl.page', async (event) => {
      const mark = markOf(event)!;
      log.push(`start ${mark}`);
      await gates.get(mark)?.promise;
      log.push(`end ${mark}`);
    });
    for (const mark of ['A:1', 'A:2', 'A:3', 'B:1']) expect((await r.send(marked(mark))).status).toBe(202);
    await log.until((e) => e.includes('start A:1'));
    // B:1 came after A:2 and A:3 yet runs while A:1 holds its key.
    await log.until((e) => e.includes('end B:1'));
    expect(log.entries.filter((e) => e.startsWith('start A'))).toEqual(['start A:1']);

    gates.get('A:1')!.resolve();
    await log.until((e) => e.includes('start A:2'));
    expect(log.entries.filter((e) => e.startsWith('start A'))).toEqual(['start A:1', 'start A:2']);
    gates.get('A:2')!.resolve();
    gates.get('A:3')!.resolve();
    await r.hooks.onIdle();
    const a = log.entries.filter((e) => / A:/.test(e));
    expect(a).toEqual(['start A:1', 'end A:1', 'start A:2', 'end A:2', 'start A:3', 'end A:3']);
  });

  h.row('orderBy')('a delivery that becomes a dead letter lets the next one with its key go', async () => {
    const r = await h.serve(h.world(), { retry: { attempts: 2, minDelayMs: 1, maxDelayMs: 5 }, orderBy: () => 'one key' });
    const log = new Log();
    r.hooks.on('crawl.page', (event) => {
      log.push(`${markOf(event)} attempt ${event.attempt}`);
      if (markOf(event) === 'fail') throw new Error('broken');
    });
    expect((await r.send(marked('fail'))).status).toBe(202);
    expect((await r.send(marked('next'))).status).toBe(202);
    await r.hooks.onIdle();
    // Its retry held the key: the next one ran after it had become a dead letter.
    expect(log.entries).toEqual(['fail attempt 1', 'fail attempt 2', 'next attempt 1']);
    expect(r.hooks.stats().dead).toBe(1);
  });

  h.row('close and drain')(
    'close() waits for running work (and runs or keeps what waits); requests meanwhile get 503 with Retry-After',
    async () => {
      const world = h.world();
      const r = await h.serve(world, { concurrency: 1, retryAfterSeconds: 9 });
      const log = new Log();
      const gate = deferred();
      const handler = async (event: { payload: unknown }) => {
        const mark = markOf(event)!;
        log.push(`start ${mark}`);
        if (mark === 'first') await gate.promise;
        log.push(`end ${mark}`);
      };
      r.hooks.on('crawl.page', handler);
      for (const mark of ['first', 'second', 'third']) expect((await r.send(marked(mark))).status).toBe(202);
      await log.until((e) => e.includes('start first'));

      const closed = r.hooks.close({ timeoutMs: 15_000 }).then(() => log.push('closed'));
      const during = await r.send(delivery());
      expect(during.status).toBe(503);
      expect(during.json).toMatchObject({ error: { code: 'receiver.closing' } });
      expect(during.headers['retry-after']).toBe('9');
      expect(r.hooks.stats().rejected['receiver.closing']).toBe(1);
      gate.resolve();
      await closed;

      if (h.backend.closeRunsQueued) {
        expect(log.entries).toEqual(['start first', 'end first', 'start second', 'end second', 'start third', 'end third', 'closed']);
        return;
      }
      // The running delivery finished before close() resolved; what waited stays in the backend
      // and the next instance runs it, once.
      expect(log.entries.indexOf('end first')).toBeLessThan(log.entries.indexOf('closed'));
      const next = await h.serve(world, { concurrency: 1, handlers: (hooks) => hooks.on('crawl.page', handler) });
      await next.hooks.onIdle();
      for (const mark of ['first', 'second', 'third']) expect(log.entries.filter((e) => e === `end ${mark}`)).toHaveLength(1);
    },
  );

  h.row('close runs waiting retries at once')('close() runs a retry waiting for its backoff at once rather than drop it', async () => {
    const r = await h.serve(h.world(), { retry: { attempts: 2, minDelayMs: 120_000, maxDelayMs: 120_000 } });
    const log = new Log<number>();
    r.hooks.on('crawl.page', (event) => {
      log.push(event.attempt);
      if (event.attempt === 1) throw new Error('once');
    });
    expect((await r.send(delivery())).status).toBe(202);
    await log.until((attempts) => attempts.includes(1));
    // The backoff (2 minutes) is far beyond the test's timeout: only close() can run it now.
    await r.hooks.close({ timeoutMs: 15_000 });
    expect(log.entries).toEqual([1, 2]);
    expect(r.hooks.stats()).toMatchObject({ succeeded: 1, dead: 0 });
  });

  h.row('close and drain')('close() with a timeout aborts the running handlers’ ctx.signal and resolves', async () => {
    const r = await h.serve(h.world());
    const log = new Log();
    r.hooks.on('crawl.page', (_event, ctx) => {
      log.push('start');
      return new Promise<void>((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          log.push('aborted');
          reject(ctx.signal.reason);
        });
      });
    });
    expect((await r.send(delivery())).status).toBe(202);
    await log.until((e) => e.includes('start'));
    // The handler never ends by itself: only the timeout ends close().
    await r.hooks.close({ timeoutMs: 100 });
    await log.until((e) => e.includes('aborted'));
    expect(log.entries).toEqual(['start', 'aborted']);
  });

  h.row('work cut short by close() runs at the next start')(
    'what close() cut short at its timeout, running or queued, is no dead letter and runs at the next start',
    async () => {
      const world = h.world();
      const log = new Log();
      const dead: string[] = [];
      const r = await h.serve(world, {
        concurrency: 1,
        handlers(hooks) {
          // As a handler passing ctx.signal to fetch() or a driver: it fails once the signal is aborted.
          hooks.on('crawl.page', (event, ctx) => {
            log.push(`first life ${markOf(event)}`);
            if (ctx.signal.aborted) return Promise.reject(ctx.signal.reason);
            return new Promise<void>((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
          });
          hooks.onError((_error, event) => void dead.push(markOf(event)!));
        },
      });
      for (const mark of ['first', 'second', 'third']) expect((await r.send(marked(mark))).status).toBe(202);
      await log.until((e) => e.includes('first life first'));
      await r.close(0);

      const next = await h.serve(world, {
        handlers: (hooks) => hooks.on('crawl.page', (event) => void log.push(`second life ${markOf(event)}`)),
      });
      await log.until((e) => ['first', 'second', 'third'].every((mark) => e.includes(`second life ${mark}`)));
      await next.hooks.onIdle();
      // Cut short by the receiver's own close(), not failed: nothing ran again in the closed receiver.
      expect(log.entries.filter((e) => e.startsWith('first life'))).toEqual(['first life first']);
      expect(log.entries.filter((e) => e.startsWith('second life')).sort()).toEqual(['second life first', 'second life second', 'second life third']);
      expect(dead).toEqual([]);
      expect(await next.hooks.deadLetters()).toEqual([]);
    },
  );
});
