import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { apify, bullmqQueue, createReceiver, firecrawl, sqliteStore, type AnyProvider, type Receiver } from '../../src/index.ts';
import { apifyDelivery, firecrawlDelivery, sendDelivery, type TestDelivery } from '../../src/testing/index.ts';
import { fromTraceparent, openTelemetryTracing, toTraceparent } from '../../src/telemetry/opentelemetry.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';

const secret = 'fc-webhook-secret-0123456789';
const token = 'apify-url-token-secret-42';
/** A marker in every payload sent: it must never reach a span. */
const BODY_MARK = 'body-content-marker-d41d8';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  // What an SDK sets up: a context manager, so that the active span follows async calls.
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

type Closable = Pick<Receiver<AnyProvider>, 'close' | 'nodeHandler' | 'onIdle'>;
const receivers: Closable[] = [];
beforeEach(() => exporter.reset());
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close({ timeoutMs: 1000 })));
});
function track<R extends Closable>(receiver: R): R {
  receivers.push(receiver);
  return receiver;
}

const send = (hooks: Closable, delivery: TestDelivery) => sendDelivery(hooks.nodeHandler({ path: '/webhooks/:provider{/:token}' }), delivery);
const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

/** No secret, token, URL or body content in any attribute, event or status of any span. */
function expectNothingSecret(all: readonly ReadableSpan[], ...secrets: string[]): void {
  const shown = JSON.stringify(all.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })));
  for (const value of [...secrets, BODY_MARK, '/webhooks/']) expect(shown).not.toContain(value);
}

describe('openTelemetryTracing() with the in-process queue', () => {
  it('records a SERVER span per request and a CONSUMER span per attempt, linked to it, with the handler spans inside', async () => {
    const hooks = track(createReceiver({ provider: firecrawl({ secret }), retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 } }));
    openTelemetryTracing(hooks, { tracerProvider: provider });
    let calls = 0;
    hooks.on('crawl.page', async () => {
      calls++;
      // The app's own span, made while the handler runs: a child of the attempt's span.
      await provider.getTracer('app').startActiveSpan('save page', async (span) => {
        span.end();
      });
      if (calls === 1) throw new Error(`database down (${secret})`);
    });
    const delivery = firecrawlDelivery({ secret, type: 'crawl.page', payload: { metadata: { note: BODY_MARK } } });
    const id = JSON.parse(delivery.body.toString()).webhookId as string;
    expect((await send(hooks, delivery)).status).toBe(202);
    await hooks.onIdle();

    const [receive] = spans('receive firecrawl');
    expect(receive).toBeDefined();
    expect(receive!.kind).toBe(SpanKind.SERVER);
    expect(receive!.attributes).toEqual({
      'scrapehook.receiver': 'firecrawl',
      'scrapehook.provider': 'firecrawl',
      'scrapehook.event_type': 'crawl.page',
      'scrapehook.delivery_id': id,
      'scrapehook.outcome': 'accepted',
      'http.response.status_code': 202,
    });
    const attempts = spans('process firecrawl').sort((a, b) => Number(a.attributes['scrapehook.attempt']) - Number(b.attributes['scrapehook.attempt']));
    expect(attempts.map((s) => [s.attributes['scrapehook.attempt'], s.attributes['scrapehook.outcome'], s.attributes['error.type'], s.status.code])).toEqual([
      [1, 'failed', 'handler.failed', SpanStatusCode.ERROR],
      [2, 'succeeded', undefined, SpanStatusCode.UNSET],
    ]);
    for (const attempt of attempts) {
      expect(attempt.kind).toBe(SpanKind.CONSUMER);
      // A trace of its own (not a child of whatever request was running), linked to the receiving span.
      expect(attempt.parentSpanContext).toBeUndefined();
      expect(attempt.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[receive!.spanContext().traceId, receive!.spanContext().spanId]]);
      expect(attempt.attributes).toMatchObject({ 'scrapehook.event_type': 'crawl.page', 'scrapehook.delivery_id': id });
    }
    const saves = spans('save page');
    expect(saves.map((s) => s.parentSpanContext?.spanId).sort()).toEqual(attempts.map((a) => a.spanContext().spanId).sort());
    expectNothingSecret(exporter.getFinishedSpans(), secret);
  });

  it('records refusals with their status and error type, a 5xx as an error, and a token in the path nowhere', async () => {
    const hooks = track(createReceiver({ provider: apify({ token }), concurrency: 1, maxQueued: 1 }));
    openTelemetryTracing([hooks], { tracerProvider: provider });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    hooks.onAny(() => held);
    const body = (delivery: TestDelivery) => delivery;
    expect((await send(hooks, apifyDelivery({ token: 'wrong-token', path: '/webhooks/apify' }))).status).toBe(401);
    expect((await send(hooks, body(apifyDelivery({ token, path: '/webhooks/apify', body: `{"note":"${BODY_MARK}"` })))).status).toBe(400);
    expect((await send(hooks, apifyDelivery({ token, path: '/webhooks/apify', payload: { note: BODY_MARK } }))).status).toBe(202);
    // The first is running (not waiting), so one more waits; the next finds the queue full.
    expect((await send(hooks, apifyDelivery({ token, path: '/webhooks/apify' }))).status).toBe(202);
    expect((await send(hooks, apifyDelivery({ token, path: '/webhooks/apify' }))).status).toBe(503);
    release();
    await hooks.onIdle();

    const answered = spans('receive apify').map((s) => [s.attributes['http.response.status_code'], s.attributes['scrapehook.outcome'], s.attributes['error.type'], s.status.code]);
    expect(answered).toEqual([
      [401, 'rejected', 'unauthorized', SpanStatusCode.UNSET],
      [400, 'rejected', 'entity.parse.failed', SpanStatusCode.UNSET],
      [202, 'accepted', undefined, SpanStatusCode.UNSET],
      [202, 'accepted', undefined, SpanStatusCode.UNSET],
      [503, 'rejected', 'queue.full', SpanStatusCode.ERROR],
    ]);
    expectNothingSecret(exporter.getFinishedSpans(), token, 'wrong-token');
  });

  it('is a no-op without an SDK, and records nothing for a receiver it was not asked to trace', async () => {
    const untraced = track(createReceiver({ provider: firecrawl({ secret }), name: 'untraced' }));
    const noSdk = track(createReceiver({ provider: firecrawl({ secret }), name: 'no-sdk' }));
    // The global tracer provider: none was registered, so it is the API's no-op.
    openTelemetryTracing(noSdk);
    const seen: unknown[] = [];
    for (const hooks of [untraced, noSdk]) hooks.onAny((event) => void seen.push(Object.keys(event)));
    for (const hooks of [untraced, noSdk]) {
      expect((await send(hooks, firecrawlDelivery({ secret }))).status).toBe(202);
      await hooks.onIdle();
    }
    expect(exporter.getFinishedSpans()).toEqual([]);
    // Handlers see the same event either way.
    expect(seen).toEqual([
      ['id', 'type', 'provider', 'payload', 'receivedAt', 'attempt'],
      ['id', 'type', 'provider', 'payload', 'receivedAt', 'attempt'],
    ]);
  });

  it('links an attempt run after a restart to the span that received the delivery, through the SQLite store', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'scrapehook-otel-'));
    try {
      const file = path.join(dir, 'hooks.db');
      // The first process accepted it (tracing on) and stopped before running it.
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const before = sqliteStore({ path: file }).forReceiver('firecrawl');
      const payload = { success: true, type: 'crawl.started', id: 'job-1', webhookId: 'wh-restart', data: [] };
      expect(await before.accept({ id: 'wh-restart', type: 'crawl.started', provider: 'firecrawl', payload, receivedAt: new Date(), traceparent }, 60_000)).toBe(true);
      await before.close();

      const hooks = track(createReceiver({ provider: firecrawl({ secret }), store: sqliteStore({ path: file }), retry: { attempts: 1 } }));
      openTelemetryTracing(hooks, { tracerProvider: provider });
      const ran = new Promise<string[]>((resolve) =>
        hooks.onAny((event) => {
          resolve(Object.keys(event));
          throw new Error('fails, to leave a dead letter');
        }),
      );
      // Handlers and dead letters never show it: it is the queue's, not the event's.
      expect(await ran).not.toContain('traceparent');
      await hooks.onIdle();
      const [attempt] = spans('process firecrawl');
      expect(attempt!.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7']]);
      const [letter] = await hooks.deadLetters();
      expect(letter!.id).toBe('wh-restart');
      expect(Object.keys(letter!.event)).not.toContain('traceparent');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what is not a receiver, and a receiver traced by another provider', () => {
    const hooks = track(createReceiver({ provider: firecrawl({ secret }) }));
    openTelemetryTracing(hooks, { tracerProvider: provider });
    openTelemetryTracing(hooks, { tracerProvider: provider });
    expect(() => openTelemetryTracing(hooks, { tracerProvider: new BasicTracerProvider() })).toThrow(TypeError);
    expect(() => openTelemetryTracing({} as never)).toThrow(/createReceiver/);
  });
});

describe('W3C traceparent', () => {
  it('round-trips a span context and refuses what is not one', () => {
    const sc = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
    expect(toTraceparent(sc)).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(fromTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({ ...sc, isRemote: true });
    expect(fromTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future')).toMatchObject({ traceFlags: 0 });
    expect(toTraceparent({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 })).toBeUndefined();
    for (const bad of ['', 'nonsense', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`]) {
      expect(fromTraceparent(bad)).toBeUndefined();
    }
  });
});

describe.runIf(redisTestsEnabled('opentelemetry-bullmq'))('openTelemetryTracing() across BullMQ', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('links the attempt a worker runs to the span of the web tier that received it, through the job data', async () => {
    const queue = `otel-${process.pid}`;
    const options = { provider: firecrawl({ secret }), retry: { attempts: 2, minDelayMs: 1, maxDelayMs: 2 } };
    // A web tier that only accepts, and a worker: the delivery reaches the worker through Redis only.
    const web = track(createReceiver({ ...options, queue: bullmqQueue({ connection: redis.url, name: queue, workers: false }) }));
    const worker = track(createReceiver({ ...options, queue: bullmqQueue({ connection: redis.url, name: queue }) }));
    const webTracing = new InMemorySpanExporter();
    openTelemetryTracing(web, { tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(webTracing)] }) });
    openTelemetryTracing(worker, { tracerProvider: provider });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ran = new Promise<number>((resolve) =>
      worker.onAny(async (event) => {
        resolve(event.attempt);
        await gate;
      }),
    );

    const delivery = firecrawlDelivery({ secret, type: 'crawl.completed', payload: { metadata: { note: BODY_MARK } } });
    const id = JSON.parse(delivery.body.toString()).webhookId as string;
    expect((await send(web, delivery)).status).toBe(202);
    expect(await ran).toBe(1);
    // While the handler runs, its job is in Redis: its data holds the trace context beside the fields it always had.
    const client = new Redis(redis.url);
    try {
      const data = JSON.parse((await client.hget(`bull:${queue}:${id}`, 'data'))!) as Record<string, unknown>;
      expect(data).toMatchObject({ id, type: 'crawl.completed', traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/) });
    } finally {
      client.disconnect();
    }
    release();
    await worker.onIdle();

    const [receive] = webTracing.getFinishedSpans().filter((s) => s.name === `receive firecrawl`);
    expect(receive!.attributes).toMatchObject({ 'http.response.status_code': 202, 'scrapehook.delivery_id': id, 'scrapehook.event_type': 'crawl.completed' });
    const [attempt] = spans('process firecrawl');
    expect(attempt!.attributes).toMatchObject({ 'scrapehook.attempt': 1, 'scrapehook.outcome': 'succeeded', 'scrapehook.delivery_id': id });
    expect(attempt!.links.map((l) => l.context.spanId)).toEqual([receive!.spanContext().spanId]);
    expect(attempt!.links[0]!.context.traceId).toBe(receive!.spanContext().traceId);
    expectNothingSecret([...webTracing.getFinishedSpans(), ...exporter.getFinishedSpans()], secret);
  });
});
