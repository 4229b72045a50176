import { describe, expect, it, vi } from 'vitest';
import { apify, createReceiver, type Logger } from '../../src/index.ts';
import { apifyDelivery, type TestDelivery } from '../../src/testing/index.ts';
import { deferred, pageEvent, signed, testProvider } from '../helpers/test-provider.ts';
import { closeAfterEach } from '../helpers/receivers.ts';

const TOKEN = 'tok-3f9a.c0ffee';

const track = closeAfterEach();

const toRequest = (delivery: TestDelivery): Request =>
  new Request(`https://example.com${delivery.path}`, { method: 'POST', headers: delivery.headers, body: delivery.body });

describe('fetchHandler(): route parameters, query, path', () => {
  it('authenticates a token passed in context.params, as Hono and Next.js pass route parameters', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const handled = vi.fn();
    hooks.onAny(handled);
    const handler = hooks.fetchHandler();
    const request = toRequest(apifyDelivery({ token: TOKEN }));
    expect((await handler(request, { params: { token: TOKEN } })).status).toBe(202);
    // Next.js 15 gives the parameters as a promise.
    const again = toRequest(apifyDelivery({ token: TOKEN }));
    expect((await handler(again, { params: Promise.resolve({ token: TOKEN }) })).status).toBe(202);
    const wrong = toRequest(apifyDelivery({ token: TOKEN }));
    expect((await handler(wrong, { params: { token: 'nope' } })).status).toBe(401);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledTimes(2);
  });

  it('authenticates a token in the query', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const res = await hooks.fetchHandler()(toRequest(apifyDelivery({ token: TOKEN, tokenIn: 'query' })));
    expect(res.status).toBe(202);
  });

  it('matches its own `path` (for Bun.serve and Deno.serve), answering 404 to any other path', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const handler = hooks.fetchHandler({ path: '/webhooks/apify/:token' });
    expect((await handler(toRequest(apifyDelivery({ token: TOKEN })))).status).toBe(202);
    const elsewhere = await handler(toRequest({ ...apifyDelivery({ token: TOKEN }), path: '/other' }));
    expect(elsewhere.status).toBe(404);
    expect(await elsewhere.json()).toEqual({ error: { code: 'route.not.found', message: 'No webhook is received at this path' } });
    expect(() => hooks.fetchHandler({ path: 'no-slash' })).toThrow(TypeError);
  });

  it('never logs the token of the path or the query', async () => {
    const lines: string[] = [];
    const log = (obj: unknown, msg?: string) => void lines.push(JSON.stringify({ obj, msg }));
    const logger: Logger = { debug: log, info: log, warn: log, error: log };
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }), logger }));
    const delivery = apifyDelivery({ token: 'wrong-secret-value', tokenIn: 'param' });
    await hooks.fetchHandler()(toRequest(delivery), { params: { token: 'wrong-secret-value' } });
    await hooks.fetchHandler()(toRequest(apifyDelivery({ token: 'other-secret-value', tokenIn: 'query' })));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).not.toMatch(/wrong-secret-value|other-secret-value/);
  });

  it('answers 500 body.already.parsed, with what to do, when the Request body was read before', async () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    const { body, headers } = signed(pageEvent());
    const request = new Request('http://localhost/hook', { method: 'POST', headers, body });
    await request.text();
    const res = await hooks.fetchHandler()(request);
    expect(res.status).toBe(500);
    const answer = (await res.json()) as { error: { code: string; message: string } };
    expect(answer.error.code).toBe('body.already.parsed');
    expect(answer.error.message).toMatch(/request\.clone\(\)/);
  });
});

describe('fetchHandler(): waitUntil', () => {
  it("hands context.waitUntil a promise that settles once the delivery's handlers have run", async () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    const gate = deferred();
    let finished = false;
    hooks.on('crawl.page', async () => {
      await gate.promise;
      finished = true;
    });
    const handed: Promise<unknown>[] = [];
    const { body, headers } = signed(pageEvent());
    const res = await hooks.fetchHandler()(new Request('http://localhost/hook', { method: 'POST', headers, body }), { waitUntil: (p) => void handed.push(p) });
    expect(res.status).toBe(202);
    expect(handed).toHaveLength(1);
    let settled = false;
    void handed[0]!.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    gate.resolve();
    await handed[0];
    expect(finished).toBe(true);
  });

  it('settles the promise when the delivery becomes a dead letter, and hands nothing over for a duplicate', async () => {
    const hooks = track(createReceiver({ provider: testProvider(), retry: { attempts: 1 } }));
    hooks.on('crawl.page', () => {
      throw new Error('boom');
    });
    const waitUntil = vi.fn<(p: Promise<unknown>) => void>();
    // The option: for platforms that offer waitUntil as a function (Vercel's, Next.js's after()).
    const handler = hooks.fetchHandler({ waitUntil });
    const { body, headers } = signed(pageEvent());
    expect((await handler(new Request('http://localhost/hook', { method: 'POST', headers, body }))).status).toBe(202);
    expect((await handler(new Request('http://localhost/hook', { method: 'POST', headers, body }))).status).toBe(200);
    expect(waitUntil).toHaveBeenCalledOnce();
    await waitUntil.mock.calls[0]![0];
    expect(hooks.stats().dead).toBe(1);
  });

  it('refuses a waitUntil option that is not a function with a TypeError', () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    expect(() => hooks.fetchHandler({ waitUntil: 'later' as unknown as () => void })).toThrow(/Expected `waitUntil` to be a function/);
  });
});

describe('fetchHandler(): reading a body of a declared length', () => {
  /** A request whose body is `sent`, then nothing more until `cut` errors it (or never, without it). */
  function declaredRequest(declared: number, sent: Uint8Array, cut?: Promise<Error>): Request {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(sent);
        void cut?.then((error) => controller.error(error));
      },
    });
    const headers = { 'content-type': 'application/json', 'content-length': String(declared) };
    return new Request('https://example.com/hooks', { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
  }

  it('refuses a declared length over the limit with 413 before reading a byte', async () => {
    const hooks = track(createReceiver({ provider: testProvider(), limit: 100 }));
    // The body never ends: reading it would hang the test.
    const res = await hooks.fetchHandler()(declaredRequest(101, new Uint8Array(10)));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'entity.too.large' } });
  });

  it('answers 408 body.timeout when the declared body stops arriving', async () => {
    const hooks = track(createReceiver({ provider: testProvider(), bodyTimeoutMs: 50 }));
    const res = await hooks.fetchHandler()(declaredRequest(2048, new Uint8Array(10)));
    expect(res.status).toBe(408);
    expect(await res.json()).toMatchObject({ error: { code: 'body.timeout' } });
  });

  it('answers 400 request.aborted when the sender goes away mid-body', async () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    const res = await hooks.fetchHandler()(declaredRequest(2048, new Uint8Array(10), Promise.resolve(new Error('socket hang up'))));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'request.aborted' } });
  });

  it('accepts a signed body of its declared length', async () => {
    const hooks = track(createReceiver({ provider: testProvider() }));
    const handled = deferred<unknown>();
    hooks.onAny((event) => handled.resolve(event.payload));
    const { body, headers } = signed(pageEvent({ webhookId: 'decl-1' }));
    const bytes = new TextEncoder().encode(body);
    const res = await hooks.fetchHandler()(
      new Request('https://example.com/hooks', { method: 'POST', headers: { ...headers, 'content-length': String(bytes.length) }, body: bytes }),
    );
    expect(res.status).toBe(202);
    expect(await handled.promise).toMatchObject({ webhookId: 'decl-1' });
  });
});
