// Contract suite, accepting: no 2xx before the delivery is stored; duplicates within the TTL (across
// a restart); several receivers on one store or Redis; instances of one receiver sharing its work.
// Every backend of test/contract/backends.ts runs every row (or says why it does not promise it).
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, vi } from 'vitest';
import { delivery, forEachBackend, idOf, Log, marked, markOf, type Served } from './harness.ts';

/** Records the ids each receiver's handlers ran. */
function record(served: Served): Log {
  const log = new Log();
  served.hooks.onAny((event) => log.push(event.id));
  return log;
}

forEachBackend('contract: accepting', (h) => {
  const { unstored } = h.backend;

  h.row('no 2xx before the delivery is stored')('answers 202 only once storing the delivery has settled', async () => {
    const world = h.world();
    const r = await h.serve(world, { make: { faults: true } });
    const ran = record(r);
    // A first delivery while storage works: the backend is up and connected.
    expect((await r.send(delivery())).status).toBe(202);

    const order: string[] = [];
    const release = await world.fault('hold');
    const held = delivery();
    const answered = r.send(held).then((res) => {
      order.push('answered');
      return res;
    });
    // Storage is held until the answer arrives (a receiver that did not wait for it) or, at most,
    // for 300 ms: a correct receiver passes whatever the timing, a wrong one answers meanwhile.
    await Promise.race([answered, sleep(300)]);
    order.push('storage released');
    await release();
    const res = await answered;
    expect(order).toEqual(['storage released', 'answered']);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ id: idOf(held) });
    await r.hooks.onIdle();
    expect(ran.entries.filter((id) => id === idOf(held))).toHaveLength(1);
  });

  h.row('no 2xx before the delivery is stored')(
    `answers ${unstored.status} ${unstored.code} when storing fails; the sender's retry is accepted and runs once`,
    async () => {
      const world = h.world();
      const r = await h.serve(world, { make: { faults: true }, retryAfterSeconds: 7 });
      const ran = record(r);
      expect((await r.send(delivery())).status).toBe(202);

      const release = await world.fault('fail');
      const d = delivery();
      let res;
      try {
        res = await r.send(d);
      } finally {
        await release();
      }
      expect(res.status).toBe(unstored.status);
      expect(res.json).toMatchObject({ error: { code: unstored.code } });
      expect(res.headers['retry-after']).toBe(unstored.retryAfter ? '7' : undefined);
      expect(r.hooks.stats().rejected[unstored.code]).toBe(1);

      if (unstored.mayLandLate) {
        // The write may still land once storage answers: the retry is then a duplicate. A sender
        // retries a 503 later; so does this loop.
        let retry: Awaited<ReturnType<Served['send']>> | undefined;
        await vi.waitFor(
          async () => {
            retry = await r.send(d);
            expect(retry.status).not.toBe(503);
          },
          { timeout: 10_000, interval: 50 },
        );
        expect([200, 202]).toContain(retry!.status);
      } else {
        // Not stored, so not remembered as seen: the retry is accepted.
        expect((await r.send(d)).status).toBe(202);
      }
      await r.hooks.onIdle();
      expect(ran.entries.filter((id) => id === idOf(d))).toHaveLength(1);
    },
  );

  h.row('duplicates within the TTL')('answers a duplicate 200 {id, duplicate: true} and does not run it again', async () => {
    const r = await h.serve(h.world());
    const ran = record(r);
    const d = delivery();
    expect((await r.send(d)).status).toBe(202);
    const again = await r.send(d);
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ id: idOf(d), duplicate: true });
    await r.hooks.onIdle();
    // Also once it has run.
    expect((await r.send(d)).json).toEqual({ id: idOf(d), duplicate: true });
    await r.hooks.onIdle();
    expect(ran.entries).toEqual([idOf(d)]);
    expect(r.hooks.stats()).toMatchObject({ accepted: 1, duplicates: 2, succeeded: 1 });
  });

  h.row('duplicates within the TTL')('with dedupe: false, the same delivery is run each time', async () => {
    const r = await h.serve(h.world(), { dedupe: false });
    const ran = record(r);
    const d = delivery();
    expect((await r.send(d)).status).toBe(202);
    await r.hooks.onIdle();
    expect((await r.send(d)).status).toBe(202);
    await r.hooks.onIdle();
    expect(ran.entries).toEqual([idOf(d), idOf(d)]);
  });

  h.row('duplicate after a restart')('remembers dedupe ids across a restart', async () => {
    const world = h.world();
    const first = await h.serve(world);
    const ran = record(first);
    const d = delivery();
    expect((await first.send(d)).status).toBe(202);
    await first.hooks.onIdle();
    expect(ran.entries).toEqual([idOf(d)]);
    await first.close();

    const second = await h.serve(world);
    const ranAfter = record(second);
    expect((await second.send(d)).json).toEqual({ id: idOf(d), duplicate: true });
    const fresh = delivery();
    expect((await second.send(fresh)).status).toBe(202);
    await second.hooks.onIdle();
    expect(ranAfter.entries).toEqual([idOf(fresh)]);
  });

  h.row('several receivers on one store')('keeps the deliveries, dedupe ids and dead letters of receivers sharing it apart', async () => {
    const world = h.world();
    const a = await h.serve(world, { name: 'team-a', retry: { attempts: 1 } });
    const b = await h.serve(world, { name: 'team-b', retry: { attempts: 1 } });
    const ranA = record(a);
    const ranB = record(b);
    a.hooks.on('crawl.page', (event) => {
      if (markOf(event) === 'fail') throw new Error('team a is down');
    });

    // The same dedupe id reaching both receivers is one delivery of each.
    const same = delivery();
    expect((await a.send(same)).status).toBe(202);
    expect((await b.send(same)).status).toBe(202);
    expect((await a.send(same)).status).toBe(200);
    expect((await b.send(same)).status).toBe(200);
    const onlyB = delivery();
    expect((await b.send(onlyB)).status).toBe(202);
    const failing = marked('fail');
    expect((await a.send(failing)).status).toBe(202);
    await Promise.all([a.hooks.onIdle(), b.hooks.onIdle()]);
    expect(ranA.entries.sort()).toEqual([idOf(same), idOf(failing)].sort());
    expect(ranB.entries.sort()).toEqual([idOf(same), idOf(onlyB)].sort());

    // Each lists, counts and replays only its own dead letters.
    expect((await a.hooks.deadLetters()).map((l) => l.id)).toEqual([idOf(failing)]);
    expect(await b.hooks.deadLetters()).toEqual([]);
    expect(a.hooks.stats().dead).toBe(1);
    expect(b.hooks.stats().dead).toBe(0);
    await expect(b.hooks.replay(idOf(failing))).rejects.toThrow(RangeError);
    expect((await a.hooks.deadLetters()).map((l) => l.id)).toEqual([idOf(failing)]);
  });

  h.row('instances share the work')('instances of one receiver share its dedupe ids, its work and its dead letters', async () => {
    const world = h.world();
    const one = await h.serve(world, { retry: { attempts: 1 } });
    const two = await h.serve(world, { retry: { attempts: 1 } });
    const ran = new Log();
    const healed = { now: false };
    for (const instance of [one, two]) {
      instance.hooks.on('crawl.page', (event) => {
        ran.push(event.id);
        if (markOf(event) === 'fail' && !healed.now) throw new Error('down for now');
      });
    }
    const deliveries = Array.from({ length: 6 }, () => delivery());
    for (const d of deliveries) expect((await one.send(d)).status).toBe(202);
    // The sender's retries through the other instance are duplicates.
    for (const d of deliveries) expect((await two.send(d)).status).toBe(200);
    await Promise.all([one.hooks.onIdle(), two.hooks.onIdle()]);
    expect(ran.entries.sort()).toEqual(deliveries.map(idOf).sort());

    // A dead letter made by either instance is listed and replayed by the other.
    const failing = marked('fail');
    expect((await one.send(failing)).status).toBe(202);
    await ran.until((ids) => ids.includes(idOf(failing)));
    await Promise.all([one.hooks.onIdle(), two.hooks.onIdle()]);
    expect((await two.hooks.deadLetters()).map((l) => l.id)).toEqual([idOf(failing)]);
    healed.now = true;
    await two.hooks.replay(idOf(failing));
    expect(await one.hooks.deadLetters()).toEqual([]);
    expect(ran.entries.filter((id) => id === idOf(failing))).toHaveLength(2);
  });
});
