import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createReceiver, standardWebhooks, type WebhookEvent } from '../../src/index.ts';
import { decodeSecrets, standardWebhooksVerifier } from '../../src/providers/standard-webhooks/index.ts';
import { sendDelivery, signStandardWebhook, standardWebhookDelivery, type TestDelivery } from '../../src/testing/index.ts';
import { appWith, fixtures, recordEvents, track } from './helpers.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const PATH = '/webhooks/standard';
const page = z.object({ url: z.string(), markdown: z.string() });

function setup(options: Partial<Parameters<typeof standardWebhooks>[0]> = {}) {
  const hooks = track(createReceiver({ provider: standardWebhooks({ secret: SECRET, events: { 'crawl.page': page }, ...options }), retry: { attempts: 1 } }));
  return { hooks, app: appWith(hooks, PATH), events: recordEvents(hooks) };
}

/** The known-answer vector of PROVIDERS.md (recomputed from the Standard Webhooks reference tests). */
const VECTOR = {
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function vectorDelivery(headers: Record<string, string> = {}): TestDelivery {
  return {
    method: 'POST',
    path: PATH,
    headers: { 'content-type': 'application/json', 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature, ...headers },
    body: Buffer.from(VECTOR.body),
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('standardWebhooks() known-answer vector', () => {
  it('signs the vector to the expected v1 signature', () => {
    expect(signStandardWebhook({ secret: SECRET, id: VECTOR.id, timestamp: VECTOR.timestamp, body: VECTOR.body })).toBe(VECTOR.signature);
  });

  // The vector's body has no `type`; an event type function lets it through validation.
  const vectorProvider = (toleranceSeconds?: number) =>
    standardWebhooks({ secret: SECRET, ...(toleranceSeconds === undefined ? {} : { toleranceSeconds }) });

  it('verifies the vector with the clock set to its timestamp (passes authentication, then 400 for the missing type)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(VECTOR.timestamp * 1000 + 10_000);
    const hooks = track(createReceiver({ provider: vectorProvider() }));
    const res = await sendDelivery(appWith(hooks, PATH), vectorDelivery());
    // Authentication succeeded: the refusal is about the body, which has no `type`.
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'event.type.missing' } });
  });

  it('accepts the vector in the verifier itself, with the clock at its timestamp', () => {
    const verify = standardWebhooksVerifier(decodeSecrets(SECRET, undefined), 300, () => VECTOR.timestamp * 1000);
    const headers: Record<string, string> = vectorDelivery().headers;
    const ctx = { method: 'POST', url: PATH, params: {}, query: () => undefined, header: (name: string) => headers[name], rawBody: Buffer.from(VECTOR.body) };
    expect(verify(ctx)).toBe(true);
    expect(verify({ ...ctx, rawBody: Buffer.from(VECTOR.body.replace('4', '5')) })).toBe(false);
  });

  it('responds 401 to the vector at the real time: it is years older than the tolerance', async () => {
    const hooks = track(createReceiver({ provider: vectorProvider() }));
    expect((await sendDelivery(appWith(hooks, PATH), vectorDelivery())).status).toBe(401);
  });

  it('verifies the vector with the tolerance turned off (not 401)', async () => {
    const hooks = track(createReceiver({ provider: vectorProvider(Infinity) }));
    expect((await sendDelivery(appWith(hooks, PATH), vectorDelivery())).status).toBe(400);
  });

  it('responds 401 to the vector with one changed byte in the signature', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(VECTOR.timestamp * 1000);
    const hooks = track(createReceiver({ provider: vectorProvider() }));
    const res = await sendDelivery(appWith(hooks, PATH), vectorDelivery({ 'webhook-signature': VECTOR.signature.replace('g0hM', 'g0hN') }));
    expect(res.status).toBe(401);
  });
});

describe('standardWebhooks() over HTTP', () => {
  it.each(fixtures('standard-webhooks').map((f) => [f.file, f] as const))('responds 202 to %s and runs its handler with typed data', async (_file, fx) => {
    const { hooks, app } = setup();
    const seen: WebhookEvent[] = [];
    hooks.on('crawl.page', (event) => void seen.push(event));
    const res = await sendDelivery(app, standardWebhookDelivery({ secret: SECRET, id: fx.headers['webhook-id'], body: fx.body!, headers: { 'content-type': fx.headers['content-type']! } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id: fx.headers['webhook-id'], type: fx.event, provider: 'standard-webhooks', payload: fx.body });
  });

  it('responds 202 when any of several v1 signatures matches, ignoring other versions', async () => {
    const { app } = setup();
    const delivery = standardWebhookDelivery({ secret: SECRET, type: 'crawl.page', data: { url: 'https://example.com', markdown: '#' } });
    const signature = `v1a,bm90LWFuLWVkMjU1MTktc2lnbmF0dXJl v1,${Buffer.alloc(32).toString('base64')} ${delivery.headers['webhook-signature']}`;
    expect((await sendDelivery(app, { ...delivery, headers: { ...delivery.headers, 'webhook-signature': signature } })).status).toBe(202);
  });

  it('responds 202 to svix-* header names', async () => {
    const { app } = setup();
    const delivery = standardWebhookDelivery({ secret: SECRET, svix: true, type: 'crawl.page', data: { url: 'https://example.com', markdown: '#' } });
    expect(Object.keys(delivery.headers)).toContain('svix-signature');
    expect((await sendDelivery(app, delivery)).status).toBe(202);
  });

  it('responds 202 to deliveries signed with either secret while they rotate', async () => {
    const next = `whsec_${Buffer.from('another 24-byte secret!!').toString('base64')}`;
    const { app } = setup({ secret: undefined, secrets: [SECRET, next] });
    for (const secret of [SECRET, next]) {
      expect((await sendDelivery(app, standardWebhookDelivery({ secret, type: 'crawl.page', data: { url: 'u', markdown: 'm' } }))).status).toBe(202);
    }
  });

  it('responds 401 when the signature is wrong', async () => {
    const { app, events } = setup();
    const other = `whsec_${Buffer.from('a different signing key!').toString('base64')}`;
    expect((await sendDelivery(app, standardWebhookDelivery({ secret: other, type: 'crawl.page', data: {} }))).status).toBe(401);
    expect(events).toEqual([]);
  });

  it('responds 401 when the body was changed after signing', async () => {
    const { app } = setup();
    const delivery = standardWebhookDelivery({ secret: SECRET, type: 'crawl.page', data: { url: 'https://example.com', markdown: 'a' } });
    expect((await sendDelivery(app, { ...delivery, body: Buffer.from(delivery.body.toString().replace('"a"', '"b"')) })).status).toBe(401);
  });

  // 30 s beyond the tolerance: the whole seconds of the timestamp and the time the request takes
  // must not bring it back within (301 s flaked: floor() drops up to a second).
  it.each([
    ['older', -330],
    ['newer', 330],
  ])('responds 401 when the timestamp is %s than the 5-minute tolerance', async (_when, offset) => {
    const { app } = setup();
    const timestamp = Math.floor(Date.now() / 1000) + offset;
    expect((await sendDelivery(app, standardWebhookDelivery({ secret: SECRET, timestamp, type: 'crawl.page', data: { url: 'u', markdown: 'm' } }))).status).toBe(401);
  });

  it('responds 202 within a custom tolerance and 401 beyond it', async () => {
    const { app } = setup({ toleranceSeconds: 30 });
    const now = Math.floor(Date.now() / 1000);
    const send = (timestamp: number) => sendDelivery(app, standardWebhookDelivery({ secret: SECRET, timestamp, type: 'crawl.page', data: { url: 'u', markdown: 'm' } }));
    expect((await send(now - 20)).status).toBe(202);
    expect((await send(now - 60)).status).toBe(401);
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('responds 401 when %s is missing', async (name) => {
    const { app } = setup();
    const delivery = standardWebhookDelivery({ secret: SECRET, type: 'crawl.page', data: { url: 'u', markdown: 'm' } });
    const { [name]: _dropped, ...headers } = delivery.headers;
    expect((await sendDelivery(app, { ...delivery, headers })).status).toBe(401);
  });

  it('responds 400 when data does not match the schema of its type', async () => {
    const { app } = setup();
    const res = await sendDelivery(app, standardWebhookDelivery({ secret: SECRET, type: 'crawl.page', data: { url: 1 } }));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'payload.invalid' } });
  });

  it('responds 202 to another type and hands it to onAny with data validated by `data`', async () => {
    const { hooks, app, events } = setup({ data: z.object({ jobId: z.string() }) });
    expect((await sendDelivery(app, standardWebhookDelivery({ secret: SECRET, type: 'crawl.completed', data: { jobId: 'j1' } }))).status).toBe(202);
    expect((await sendDelivery(app, standardWebhookDelivery({ secret: SECRET, type: 'crawl.completed', data: {} }))).status).toBe(400);
    await hooks.onIdle();
    expect(events.map((e) => [e.type, e.payload])).toEqual([['crawl.completed', expect.objectContaining({ data: { jobId: 'j1' } })]]);
  });

  it('responds 200 duplicate to a retry: same webhook-id, new timestamp and signature', async () => {
    const { hooks, app, events } = setup();
    const first = standardWebhookDelivery({ secret: SECRET, id: 'msg_retry', type: 'crawl.page', data: { url: 'u', markdown: 'm' } });
    const retry = standardWebhookDelivery({ secret: SECRET, id: 'msg_retry', timestamp: Math.floor(Date.now() / 1000) + 5, body: first.body });
    expect(retry.headers['webhook-signature']).not.toBe(first.headers['webhook-signature']);
    expect((await sendDelivery(app, first)).status).toBe(202);
    expect((await sendDelivery(app, retry)).status).toBe(200);
    await hooks.onIdle();
    expect(events.map((e) => e.id)).toEqual(['msg_retry']);
  });

  it('throws a TypeError for a missing or non-base64 secret, or a bad tolerance, naming no value', () => {
    expect(() => standardWebhooks({})).toThrow(/`secret`/);
    expect(() => standardWebhooks({ secret: 'whsec_not base64!' })).toThrow(/base64/);
    expect(() => standardWebhooks({ secret: 'whsec_not base64!' })).not.toThrow(/not base64!/);
    expect(() => standardWebhooks({ secret: SECRET, toleranceSeconds: -1 })).toThrow(/`toleranceSeconds`/);
    expect(() => standardWebhooks({ secret: SECRET, events: { 'a.b': 'x' as never } })).toThrow(/zod schema/);
  });

  it('names the provider after the sender when asked', async () => {
    const { hooks, app, events } = setup({ name: 'svix' });
    expect((await sendDelivery(app, standardWebhookDelivery({ secret: SECRET, type: 'crawl.page', data: { url: 'u', markdown: 'm' } }))).status).toBe(202);
    await hooks.onIdle();
    expect(events[0]?.provider).toBe('svix');
  });
});
