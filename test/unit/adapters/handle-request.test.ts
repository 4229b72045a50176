import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { createPipeline, type BufferedRequest, type PipelineState, type RouteMatcher } from '../../../src/adapters/handle-request.ts';
import { routeMatcher } from '../../../src/adapters/route.ts';
import type { EnqueueResult } from '../../../src/core/backend.ts';
import { defineProvider, secretToken, type AnyProvider, type Delivery, type InvalidDelivery, type Logger, type ReceivedBody } from '../../../src/index.ts';
import { safeLogger } from '../../../src/log.ts';
import { Instruments } from '../../../src/telemetry/instruments.ts';
import { pageEvent, signed, testProvider } from '../../helpers/test-provider.ts';

interface Logged {
  level: 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

/**
 * A pipeline over a fake receiver: the test sets whether it is closing or full and what enqueue
 * answers, and reads back every call the pipeline made on it, in order.
 */
function setup(options: { provider?: AnyProvider; enqueue?: (delivery: Delivery) => EnqueueResult | Promise<EnqueueResult> } = {}) {
  const calls: string[] = [];
  const logged: Logged[] = [];
  const enqueued: { delivery: Delivery; body: ReceivedBody | undefined }[] = [];
  const invalid: InvalidDelivery[] = [];
  const flags = { closing: false, full: false };
  const record =
    (level: Logged['level']) =>
    (obj: unknown, msg?: string): void =>
      void logged.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
  // As createReceiver does: the pipeline is handed the user's logger wrapped by safeLogger.
  const logger: Logger = safeLogger({ debug: () => {}, info: () => {}, warn: record('warn'), error: record('error') });
  const provider = options.provider ?? testProvider();
  const state: PipelineState = {
    provider,
    limit: 1024 * 1024,
    bodyTimeoutMs: 10_000,
    logger,
    retryAfterSeconds: 7,
    counters: { received: 0, accepted: 0, duplicates: 0 },
    rejected: {},
    // As createReceiver makes them: with no metrics sink nor tracer attached, they record nothing.
    instruments: new Instruments('test', provider),
    isClosing() {
      calls.push('isClosing');
      return flags.closing;
    },
    isFull() {
      calls.push('isFull');
      return flags.full;
    },
    enqueue(delivery, body) {
      calls.push('enqueue');
      enqueued.push({ delivery, body });
      return options.enqueue ? options.enqueue(delivery) : 'accepted';
    },
    invalid(delivery) {
      calls.push('invalid');
      invalid.push(delivery);
    },
  };
  return { pipeline: createPipeline(state), state, calls, logged, enqueued, invalid, flags };
}

/** A signed `crawl.page` delivery (or the given body) as Fastify hands it over. */
function request(overrides: Partial<BufferedRequest> = {}, event: unknown = pageEvent()): BufferedRequest {
  const { body, headers } = signed(event);
  return { method: 'POST', url: '/hooks', params: undefined, headers, body: Buffer.from(body), ...overrides };
}

const json = (body: string) => JSON.parse(body) as { id?: string; duplicate?: boolean; error?: { code: string; message: string; issues?: unknown[] } };

describe('createPipeline(): the steps in order, each with its own answer', () => {
  it('404 for a path the route does not match, before looking at the method; nothing else is asked', async () => {
    const { pipeline, calls, logged, state } = setup();
    const route: RouteMatcher = routeMatcher('/hooks/:token');
    const res = await pipeline.fetch(new Request('http://h/elsewhere/s3cr3t?token=s3cr3t', { method: 'GET' }), undefined, route);
    expect(res.status).toBe(404);
    expect(json(await res.text()).error?.code).toBe('route.not.found');
    expect(calls).toEqual([]);
    expect(state.rejected).toEqual({ 'route.not.found': 1 });
    // Nothing in an unmatched path can be redacted: no URL is logged at all.
    expect(logged).toEqual([{ level: 'warn', obj: { provider: 'test', status: 404, code: 'route.not.found' }, msg: expect.stringContaining('route.not.found') }]);
  });

  it('gives a matched route’s parameters to the verifier', async () => {
    const provider = tokenProvider();
    const { pipeline } = setup({ provider });
    const res = await pipeline.fetch(
      new Request('http://h/hooks/t0ken', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"ping","id":"p1"}' }),
      undefined,
      routeMatcher('/hooks/:token'),
    );
    expect(res.status).toBe(202);
  });

  it('405 with Allow: POST for another method, before asking whether the receiver is closing', async () => {
    const { pipeline, calls, flags } = setup();
    flags.closing = true;
    const answer = await pipeline.buffered(request({ method: 'PUT' }));
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('POST');
    expect(json(answer.body).error?.code).toBe('method.not.allowed');
    expect(calls).toEqual([]);
  });

  it('503 with Retry-After while closing, before reading the content type or the body', async () => {
    const { pipeline, calls, flags, state } = setup();
    flags.closing = true;
    const answer = await pipeline.buffered(request({ headers: { 'content-type': 'text/plain' } }));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('7');
    expect(json(answer.body).error?.code).toBe('receiver.closing');
    expect(calls).toEqual(['isClosing']);
    expect(state.counters).toEqual({ received: 1, accepted: 0, duplicates: 0 });
  });

  it('503 with Retry-After when full, before the content type', async () => {
    const { pipeline, calls, flags, logged } = setup();
    flags.full = true;
    const answer = await pipeline.buffered(request({ headers: { 'content-type': 'text/plain' } }));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('7');
    expect(json(answer.body).error?.code).toBe('queue.full');
    expect(calls).toEqual(['isClosing', 'isFull']);
    // Overload is the sender's to retry, not an error of ours.
    expect(logged.map((l) => l.level)).toEqual(['warn']);
  });

  it('415 for a content type the provider does not send, before authentication', async () => {
    const { pipeline, calls } = setup();
    const answer = await pipeline.buffered(request({ headers: { 'content-type': 'text/plain' } }));
    expect(answer.status).toBe(415);
    expect(json(answer.body).error?.code).toBe('content-type.unsupported');
    expect(calls).toEqual(['isClosing', 'isFull']);
  });

  it('401 with one fixed body for a bad signature, before decoding the body', async () => {
    const { pipeline, calls, state } = setup();
    const answer = await pipeline.buffered(request({ headers: { 'content-type': 'application/json', 'x-test-signature': 'sha256=00' }, body: Buffer.from('{not json') }));
    expect(answer.status).toBe(401);
    expect(json(answer.body)).toEqual({ error: { code: 'unauthorized', message: 'Authentication failed' } });
    expect(calls).toEqual(['isClosing', 'isFull']);
    expect(state.rejected).toEqual({ unauthorized: 1 });
  });

  it('401 when the verifier throws, logging that it threw', async () => {
    const verify = () => {
      throw new Error('verifier bug');
    };
    const provider = { ...testProvider(), verify } as AnyProvider;
    const { pipeline, logged } = setup({ provider });
    const answer = await pipeline.buffered(request());
    expect(answer.status).toBe(401);
    expect(logged[0]).toMatchObject({ level: 'error', msg: expect.stringContaining('authentication strategy threw') });
  });

  it('401 naming a route parameter the verifier read and the request lacks, once per parameter', async () => {
    const { pipeline, logged } = setup({ provider: tokenProvider() });
    const body = Buffer.from('{"type":"ping","id":"p1"}');
    const hint = () => logged.filter((l) => l.msg.includes('route parameter `token`'));
    for (let i = 0; i < 3; i++) {
      const answer = await pipeline.buffered(request({ headers: { 'content-type': 'application/json' }, body }));
      expect(answer.status).toBe(401);
    }
    expect(hint()).toHaveLength(1);
    expect(hint()[0]).toMatchObject({ level: 'warn', obj: { provider: 'token-test', param: 'token' } });
    expect(hint()[0]!.msg).toContain("nodeHandler({ path: '/webhooks/token-test/:token' })");
    // A request with the parameter but a wrong value is a plain 401, with no hint.
    await pipeline.buffered(request({ params: { token: 'wrong' }, headers: { 'content-type': 'application/json' }, body }));
    expect(hint()).toHaveLength(1);
  });

  it('400 for a body that does not parse, and for one without an event type; nothing is enqueued', async () => {
    const { pipeline, calls } = setup();
    const unparsable = signed('{not json');
    const a = await pipeline.buffered(request({ headers: unparsable.headers, body: Buffer.from(unparsable.body) }));
    expect([a.status, json(a.body).error?.code]).toEqual([400, 'entity.parse.failed']);
    const untyped = signed({ id: 'x' });
    const b = await pipeline.buffered(request({ headers: untyped.headers, body: Buffer.from(untyped.body) }));
    expect([b.status, json(b.body).error?.code]).toEqual([400, 'event.type.missing']);
    expect(calls).not.toContain('enqueue');
    expect(calls).not.toContain('invalid');
  });

  it('400 with the failing paths for an invalid payload, telling the onInvalid listeners first; nothing is enqueued', async () => {
    const { pipeline, calls, invalid, state } = setup();
    const event = pageEvent({ data: [{ markdown: 42 }] });
    const req = request({}, event);
    const answer = await pipeline.buffered(req);
    expect(answer.status).toBe(400);
    const { error } = json(answer.body);
    expect(error?.code).toBe('payload.invalid');
    expect(error?.issues).toEqual([expect.objectContaining({ path: ['data', 0, 'markdown'], code: 'invalid_type' })]);
    expect(answer.body).not.toContain('42');
    expect(calls).toEqual(['isClosing', 'isFull', 'invalid']);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ provider: 'test', type: 'crawl.page', body: event, headers: req.headers });
    expect(invalid[0]!.error.type).toBe('payload.invalid');
    expect(invalid[0]!.rawBody.equals(req.body!)).toBe(true);
    expect(state.rejected).toEqual({ 'payload.invalid': 1 });
  });

  it('202 with the delivery id once enqueued, with the validated delivery and the raw body', async () => {
    const { pipeline, calls, enqueued, state, logged } = setup();
    const event = pageEvent();
    const req = request({}, event);
    const answer = await pipeline.buffered(req);
    expect(answer.status).toBe(202);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(json(answer.body)).toEqual({ id: event.webhookId });
    // Closing is asked again after the body was read: close() may have begun meanwhile.
    expect(calls).toEqual(['isClosing', 'isFull', 'isClosing', 'enqueue']);
    expect(enqueued[0]!.delivery).toMatchObject({ id: event.webhookId, type: 'crawl.page', provider: 'test', payload: event });
    expect(enqueued[0]!.delivery.receivedAt).toBeInstanceOf(Date);
    expect(enqueued[0]!.body).toEqual({ bytes: req.body, type: 'json' });
    expect(state.counters).toEqual({ received: 1, accepted: 1, duplicates: 0 });
    expect(logged).toEqual([]);
  });

  it('waits for an enqueue that answers with a promise (a durable store) before answering', async () => {
    let settle!: (result: EnqueueResult) => void;
    let called!: () => void;
    const enqueueCalled = new Promise<void>((resolve) => (called = resolve));
    const { pipeline } = setup({
      enqueue: () => {
        called();
        return new Promise<EnqueueResult>((resolve) => (settle = resolve));
      },
    });
    let answered = false;
    const answer = pipeline.buffered(request()).then((a) => ((answered = true), a));
    await enqueueCalled;
    expect(answered).toBe(false);
    settle('accepted');
    expect((await answer).status).toBe(202);
  });

  it('503 when the receiver closed while the body was read: nothing is enqueued', async () => {
    const { pipeline, calls, flags, enqueued } = setup();
    // Closing turns true after the first check, as if close() began while the body was on its way.
    let checks = 0;
    Object.defineProperty(flags, 'closing', { get: () => checks++ > 0 });
    const answer = await pipeline.buffered(request());
    expect(answer.status).toBe(503);
    expect(calls).toEqual(['isClosing', 'isFull', 'isClosing']);
    expect(enqueued).toEqual([]);
  });

  it('200 for a duplicate, saying so, counted apart', async () => {
    const { pipeline, state } = setup({ enqueue: () => 'duplicate' });
    const event = pageEvent();
    const answer = await pipeline.buffered(request({}, event));
    expect(answer.status).toBe(200);
    expect(json(answer.body)).toEqual({ id: event.webhookId, duplicate: true });
    expect(state.counters).toEqual({ received: 1, accepted: 0, duplicates: 1 });
  });

  it('503 when enqueue finds the queue full', async () => {
    const { pipeline, state } = setup({ enqueue: () => 'full' });
    const answer = await pipeline.buffered(request());
    expect(answer.status).toBe(503);
    expect(json(answer.body).error?.code).toBe('queue.full');
    expect(state.counters.accepted).toBe(0);
  });

  it('500 internal when enqueue fails: a generic answer, the cause logged with secrets and the URL token hidden', async () => {
    const cause = Object.assign(new Error('connect to postgres://app:hunter2@db:5432 failed'), { options: { password: 'hunter2' } });
    const { pipeline, logged, state } = setup({
      enqueue: () => Promise.reject(cause),
    });
    const answer = await pipeline.buffered(request({ url: '/hooks/s3cr3t?token=s3cr3t', params: { token: 's3cr3t' } }));
    expect(answer.status).toBe(500);
    expect(json(answer.body)).toEqual({ error: { code: 'internal', message: 'Internal error' } });
    expect(answer.body).not.toContain('hunter2');
    expect(state.rejected).toEqual({ internal: 1 });
    expect(logged).toHaveLength(1);
    const [entry] = logged;
    expect(entry).toMatchObject({ level: 'error', msg: 'scrapehook: Internal error', obj: { provider: 'test', url: '/hooks/:token?token=[redacted]' } });
    const err = entry!.obj.err as Error;
    expect(err.message).toBe('connect to postgres://app:***@db:5432 failed');
    expect(err).not.toHaveProperty('options');
    expect(JSON.stringify(entry)).not.toContain('hunter2');
    expect(JSON.stringify(entry)).not.toContain('s3cr3t');
  });

  it('answers the same steps over fetch() as over buffered()', async () => {
    const { pipeline, calls } = setup();
    const event = pageEvent();
    const { body, headers } = signed(event);
    const res = await pipeline.fetch(new Request('http://h/hooks', { method: 'POST', headers, body }), undefined);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ id: event.webhookId });
    expect(calls).toEqual(['isClosing', 'isFull', 'isClosing', 'enqueue']);
  });
});

/** A provider that reads its token from the route parameter `token`. */
function tokenProvider() {
  return defineProvider({
    name: 'token-test',
    verify: secretToken({ token: 't0ken', param: 'token' }),
    eventType: 'type',
    events: { ping: z.object({ type: z.literal('ping'), id: z.string() }) },
    envelope: z.looseObject({ type: z.string() }),
    dedupeId: ({ payload }) => (typeof payload.id === 'string' ? payload.id : 'none'),
  }) as unknown as AnyProvider;
}
