// Contract suite, running handlers: retries with backoff, dead letters and replay, errors that say
// retrying cannot help, and import checkpoints kept across a retry.
import { expect } from 'vitest';
import { WebhookError } from '../../src/index.ts';
import { delivery, forEachBackend, idOf, Log, marked, markOf } from './harness.ts';

forEachBackend('contract: handlers', (h) => {
  h.row('retries with backoff')('retries a failing handler until it succeeds, with attempt numbers 1..N+1, counted in stats()', async () => {
    const r = await h.serve(h.world(), { retry: { attempts: 5, minDelayMs: 1, maxDelayMs: 5 } });
    const attempts = new Log<number>();
    const failures = 3;
    r.hooks.on('crawl.page', (event) => {
      attempts.push(event.attempt);
      if (event.attempt <= failures) throw new Error(`failing attempt ${event.attempt}`);
    });
    const errors: unknown[] = [];
    r.hooks.onError((error) => void errors.push(error));
    const d = delivery();
    expect((await r.send(d)).status).toBe(202);
    await r.hooks.onIdle();
    expect(attempts.entries).toEqual([1, 2, 3, 4]);
    expect(errors).toEqual([]);
    expect(await r.hooks.deadLetters()).toEqual([]);
    expect(r.hooks.stats()).toMatchObject({ accepted: 1, retried: failures, succeeded: 1, dead: 0, queued: 0, running: 0 });
  });

  h.row('retries with backoff')('a handler that already succeeded is not run again on a retry', async () => {
    const r = await h.serve(h.world());
    const steady = new Log<number>();
    const flaky = new Log<number>();
    r.hooks.on('crawl.page', (event) => void steady.push(event.attempt));
    r.hooks.onAny((event) => {
      flaky.push(event.attempt);
      if (event.attempt === 1) throw new Error('once');
    });
    expect((await r.send(delivery())).status).toBe(202);
    await r.hooks.onIdle();
    expect(flaky.entries).toEqual([1, 2]);
    expect(steady.entries).toEqual([1]);
  });

  h.row('dead letters and replay')(
    'makes a dead letter after retry.attempts, listed with its error and counted; replay() runs it again and removes it',
    async () => {
      const r = await h.serve(h.world(), { retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 5 } });
      const runs = new Log<number>();
      const healed = { now: false };
      r.hooks.on('crawl.page', (event) => {
        runs.push(event.attempt);
        if (!healed.now) throw new Error('database unreachable');
      });
      const dead: { error: WebhookError; id: string }[] = [];
      r.hooks.onError((error, event) => void dead.push({ error, id: event.id }));
      const d = delivery();
      const fine = delivery();
      expect((await r.send(d)).status).toBe(202);
      await r.hooks.onIdle();
      expect(runs.entries).toEqual([1, 2, 3]);
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ id: idOf(d), error: { type: 'handler.failed' } });
      expect(r.hooks.stats()).toMatchObject({ retried: 2, dead: 1, succeeded: 0 });

      const letters = await r.hooks.deadLetters();
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({
        id: idOf(d),
        attempts: 3,
        event: { id: idOf(d), type: 'crawl.page', provider: 'firecrawl' },
        error: { type: 'handler.failed', message: expect.stringContaining('database unreachable') },
      });
      // A dead letter's id stays seen: the sender's retry is a duplicate, not a new run.
      expect((await r.send(d)).status).toBe(200);

      await expect(r.hooks.replay('no-such-id')).rejects.toThrow(RangeError);
      healed.now = true;
      await r.hooks.replay(idOf(d));
      expect(runs.entries).toHaveLength(4);
      expect(await r.hooks.deadLetters()).toEqual([]);
      expect(r.hooks.stats().dead).toBe(0);
      // And the receiver works on.
      expect((await r.send(fine)).status).toBe(202);
      await r.hooks.onIdle();
      expect(runs.entries).toHaveLength(5);
    },
  );

  h.row('dead letters and replay')('a replay that fails again rejects and keeps the dead letter', async () => {
    const r = await h.serve(h.world(), { retry: { attempts: 1 } });
    r.hooks.on('crawl.page', () => {
      throw new Error('still broken');
    });
    const d = delivery();
    expect((await r.send(d)).status).toBe(202);
    await r.hooks.onIdle();
    await expect(r.hooks.replay(idOf(d))).rejects.toThrow(/still broken|failed/);
    await r.hooks.onIdle();
    expect((await r.hooks.deadLetters()).map((l) => l.id)).toEqual([idOf(d)]);
    expect(r.hooks.stats().dead).toBe(1);
  });

  h.row('dead letters and replay')('a handler error with retryable: false makes a dead letter at once', async () => {
    const r = await h.serve(h.world(), { retry: { attempts: 5, minDelayMs: 1, maxDelayMs: 5 } });
    const runs = new Log<number>();
    r.hooks.on('crawl.page', (event) => {
      runs.push(event.attempt);
      throw Object.assign(new Error('the API token was revoked'), { retryable: false });
    });
    const d = delivery();
    expect((await r.send(d)).status).toBe(202);
    await r.hooks.onIdle();
    expect(runs.entries).toEqual([1]);
    expect(r.hooks.stats()).toMatchObject({ retried: 0, dead: 1 });
    expect(await r.hooks.deadLetters()).toEqual([
      expect.objectContaining({ id: idOf(d), attempts: 1, error: expect.objectContaining({ message: expect.stringContaining('revoked') }) }),
    ]);
  });

  h.row('checkpoint across a retry')('keeps ctx.importState values of a delivery across its retries, apart from other deliveries', async () => {
    const r = await h.serve(h.world());
    const seen = new Log<{ mark: string | undefined; attempt: number; cursor: string | undefined }>();
    r.hooks.on('crawl.page', async (event, ctx) => {
      const cursor = await ctx.importState.get('cursor');
      seen.push({ mark: markOf(event), attempt: event.attempt, cursor });
      if (event.attempt === 1) {
        await ctx.importState.set('cursor', `page-2-of-${markOf(event)}`, 60_000);
        await ctx.importState.addToSet('imported', [`${markOf(event)}-page-1`], 60_000);
        throw new Error('the download broke after page 1');
      }
    });
    expect((await r.send(marked('a'))).status).toBe(202);
    expect((await r.send(marked('b'))).status).toBe(202);
    await r.hooks.onIdle();
    const byMark = (mark: string) => seen.entries.filter((e) => e.mark === mark);
    expect(byMark('a')).toEqual([
      { mark: 'a', attempt: 1, cursor: undefined },
      { mark: 'a', attempt: 2, cursor: 'page-2-of-a' },
    ]);
    expect(byMark('b')).toEqual([
      { mark: 'b', attempt: 1, cursor: undefined },
      { mark: 'b', attempt: 2, cursor: 'page-2-of-b' },
    ]);
    // Sets belong to the whole receiver.
    let members: string[] = [];
    r.hooks.onAny(async (_event, ctx) => void (members = await ctx.importState.members('imported')));
    expect((await r.send(marked('c'))).status).toBe(202);
    await r.hooks.onIdle();
    expect(members.filter((m) => m !== 'c-page-1').sort()).toEqual(['a-page-1', 'b-page-1']);
  });
});
