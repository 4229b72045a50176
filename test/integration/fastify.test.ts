import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apify, createReceiver, type AnyProvider, type Receiver } from '../../src/index.ts';
import { scrapehookFastify } from '../../src/fastify.ts';
import { apifyDelivery } from '../../src/testing/index.ts';
import { fastifyTarget, type Target } from '../helpers/adapters.ts';
import { SIGNATURE_HEADER, pageEvent, signed, testProvider } from '../helpers/test-provider.ts';

const TOKEN = 'tok-3f9a.c0ffee';

const receivers: Receiver<AnyProvider>[] = [];
const targets: Target[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close({ timeoutMs: 1000 })));
});

function track<P extends AnyProvider>(hooks: Receiver<P>): Receiver<AnyProvider> {
  receivers.push(hooks as unknown as Receiver<AnyProvider>);
  return hooks as unknown as Receiver<AnyProvider>;
}

describe('scrapehookFastify', () => {
  it('keeps its parser to its own route: a JSON route beside it still gets parsed JSON', async () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    const target = fastifyTarget(async () => {
      const app = Fastify();
      await app.register(scrapehookFastify, { receiver: hooks, path: '/hook' });
      app.post('/json', async (request) => ({ got: request.body }));
      return app;
    });
    targets.push(target);
    const { body, headers } = signed(pageEvent());
    expect((await target.send({ headers, body })).status).toBe(202);
    const json = await target.send({ path: '/json', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(json.status).toBe(200);
    expect(json.body).toEqual({ got: { a: 1 } });
  });

  it("answers through reply: the app's hooks and logging see every answer", async () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    const seen = vi.fn();
    const target = fastifyTarget(async () => {
      const app = Fastify();
      app.addHook('onResponse', async (request, reply) => seen(request.url, reply.statusCode));
      await app.register(scrapehookFastify, { receiver: hooks, path: '/hook' });
      // fastify-plugin metadata: the app knows the plugin by name.
      expect(app.hasPlugin('scrapehook')).toBe(true);
      return app;
    });
    targets.push(target);
    const { body, headers } = signed(pageEvent());
    await target.send({ headers, body });
    await target.send({ headers: { ...headers, [SIGNATURE_HEADER]: 'sha256=00' }, body });
    await target.send({ method: 'GET' });
    expect(seen.mock.calls).toEqual([
      ['/hook', 202],
      ['/hook', 401],
      ['/hook', 405],
    ]);
  });

  it('reads a token from the route parameter', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const target = fastifyTarget(async () => {
      const app = Fastify();
      await app.register(scrapehookFastify, { receiver: hooks, path: '/webhooks/apify/:token' });
      return app;
    });
    targets.push(target);
    const delivery = apifyDelivery({ token: TOKEN });
    expect((await target.send({ path: delivery.path, headers: delivery.headers, body: delivery.body })).status).toBe(202);
    const wrong = apifyDelivery({ token: 'not-it' });
    expect((await target.send({ path: wrong.path, headers: wrong.headers, body: wrong.body })).status).toBe(401);
  });

  it('refuses a receiver not made by createReceiver, or a bad path, with a TypeError', async () => {
    const app = Fastify();
    await expect(app.register(scrapehookFastify, { receiver: {} as Receiver<AnyProvider>, path: '/hook' })).rejects.toThrow(TypeError);
    const hooks = track(createReceiver({ provider: testProvider() }));
    const other = Fastify();
    await expect(other.register(scrapehookFastify, { receiver: hooks, path: 'hook' })).rejects.toThrow(/Expected `path`/);
  });
});
