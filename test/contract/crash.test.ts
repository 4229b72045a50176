// Contract suite, crashes: a receiver process killed (SIGKILL) while a delivery runs and another
// waits; a receiver started on the same durable state runs both, once, with the import checkpoint
// the dead process saved, and the sender's retries are duplicates.
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { sendDelivery } from '../../src/testing/index.ts';
import { startReceiver } from '../durability/child.ts';
import { delivery, forEachBackend, idOf, Log, type Harness } from './harness.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/receiver.ts', import.meta.url));

/** Kills a receiver process in the middle of a delivery; answers the world, the running and the waiting delivery. */
async function crash(h: Harness) {
  const world = h.world();
  const child = await startReceiver({ CONTRACT_BACKEND: h.backend.name, CONTRACT_WORLD: world.descriptor }, 20_000, FIXTURE);
  const url = `http://127.0.0.1:${child.port}`;
  const running = delivery();
  const waiting = delivery();
  expect((await sendDelivery(url, running)).status).toBe(202);
  await child.line(new RegExp(`^holding ${idOf(running)} 1$`));
  // The process runs one delivery at a time: this one waits behind it.
  expect((await sendDelivery(url, waiting)).status).toBe(202);
  await child.kill();
  return { world, running, waiting };
}

forEachBackend('contract: crashes', (h) => {
  h.row('recovery after a crash')('runs what a killed process had accepted, running or waiting, once; the retries are duplicates', async () => {
    const { world, running, waiting } = await crash(h);
    const ran = new Log();
    const r = await h.serve(world, { make: { quickRecovery: true }, handlers: (hooks) => hooks.on('crawl.page', (event) => void ran.push(event.id)) });
    await ran.until((ids) => ids.includes(idOf(running)) && ids.includes(idOf(waiting)));
    expect((await r.send(running)).json).toEqual({ id: idOf(running), duplicate: true });
    expect((await r.send(waiting)).json).toEqual({ id: idOf(waiting), duplicate: true });
    await r.hooks.onIdle();
    expect(ran.entries.sort()).toEqual([idOf(running), idOf(waiting)].sort());
    expect(await r.hooks.deadLetters()).toEqual([]);
  });

  h.row('checkpoint after a crash')('a delivery run again after a crash sees the import checkpoint it saved before', async () => {
    const { world, running, waiting } = await crash(h);
    const seen = new Log<[string, string | undefined]>();
    const r = await h.serve(world, {
      make: { quickRecovery: true },
      handlers: (hooks) => hooks.on('crawl.page', async (event, ctx) => seen.push([event.id, await ctx.importState.get('cursor')])),
    });
    await seen.until((entries) => entries.length === 2);
    await r.hooks.onIdle();
    expect(seen.entries).toContainEqual([idOf(running), `page-2-of-${idOf(running)}`]);
    // Values belong to their delivery: the one that never ran has none.
    expect(seen.entries).toContainEqual([idOf(waiting), undefined]);
  });
});
