import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apify, createReceiver, type WebhookEvent } from '../../src/index.ts';
import { apifyDelivery, apifySamples, sendDelivery } from '../../src/testing/index.ts';
import { appWith, fixtures, recordEvents, track } from './helpers.ts';

const TOKEN = 'apify-url-token';
const ROUTES = ['/webhooks/apify/:token', '/webhooks/apify'];

function setup(options: Parameters<typeof apify>[0] = { token: TOKEN }) {
  const hooks = track(createReceiver({ provider: apify(options), retry: { attempts: 1 } }));
  return { hooks, app: appWith(hooks, ...ROUTES), events: recordEvents(hooks) };
}

describe('apify() fixtures over HTTP', () => {
  it.each(fixtures('apify').map((f) => [f.file, f] as const))('responds 202 to %s and runs its handler with the payload', async (_file, fx) => {
    const { hooks, app } = setup();
    const seen: WebhookEvent[] = [];
    hooks.on(fx.event as 'ACTOR.RUN.SUCCEEDED', (event) => void seen.push(event));
    const res = await sendDelivery(app, apifyDelivery({ token: TOKEN, body: fx.body!, headers: fx.headers }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: fx.event, provider: 'apify', id: fx.headers['x-apify-webhook-dispatch-id'] });
    expect(seen[0]!.payload).toMatchObject({ eventType: fx.event, userId: fx.body!.userId });
  });

  it('hands the run to an ACTOR.RUN.SUCCEEDED handler, typed', async () => {
    const { hooks, app } = setup();
    const datasets: string[] = [];
    hooks.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => void datasets.push(payload.resource.defaultDatasetId));
    expect((await sendDelivery(app, apifyDelivery({ token: TOKEN }))).status).toBe(202);
    await hooks.onIdle();
    expect(datasets).toEqual(['wmKPijuyDnPZAPRMk']);
  });

  it('responds 202 to every documented event type, builds included', async () => {
    const { hooks, app, events } = setup();
    for (const type of Object.keys(apifySamples) as (keyof typeof apifySamples)[]) {
      expect((await sendDelivery(app, apifyDelivery({ token: TOKEN, type }))).status, type).toBe(202);
    }
    await hooks.onIdle();
    expect(events.map((e) => e.type)).toEqual(Object.keys(apifySamples));
  });

  it('responds 202 to an ACTOR.* type Apify adds later and hands it to onAny', async () => {
    const { hooks, app, events } = setup();
    const res = await sendDelivery(app, apifyDelivery({ token: TOKEN, payload: { eventType: 'ACTOR.RUN.MIGRATED' } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => e.type)).toEqual(['ACTOR.RUN.MIGRATED']);
  });
});

describe('apify() authentication', () => {
  it.each(['param', 'query', 'header'] as const)('responds 202 with the token in the %s by default', async (tokenIn) => {
    const { app } = setup();
    expect((await sendDelivery(app, apifyDelivery({ token: TOKEN, tokenIn }))).status).toBe(202);
  });

  it.each(['param', 'query', 'header'] as const)('responds 401 when the token in the %s is wrong', async (tokenIn) => {
    const { app, events } = setup();
    expect((await sendDelivery(app, apifyDelivery({ token: 'wrong-token', tokenIn }))).status).toBe(401);
    expect(events).toEqual([]);
  });

  it('responds 401 when no token is sent', async () => {
    const { app } = setup();
    const res = await sendDelivery(app, { ...apifyDelivery({ token: TOKEN }), path: '/webhooks/apify' });
    expect(res.status).toBe(401);
  });

  it('reads the token only where tokenFrom says (401 elsewhere, 202 there)', async () => {
    const { app } = setup({ token: TOKEN, tokenFrom: { header: 'x-webhook-token' } });
    expect((await sendDelivery(app, apifyDelivery({ token: TOKEN, tokenIn: 'param' }))).status).toBe(401);
    const res = await sendDelivery(app, apifyDelivery({ token: TOKEN, tokenIn: 'query', path: '/webhooks/apify', headers: { 'x-webhook-token': TOKEN } }));
    expect(res.status).toBe(202);
  });

  it('throws a TypeError without a token', () => {
    expect(() => apify({})).toThrow(/`token`/);
    expect(() => apify({ token: TOKEN, schema: 'nope' as never })).toThrow(/`schema` to be a zod schema/);
  });
});

describe('apify() deduplication', () => {
  it('responds 200 duplicate to a retry of one dispatch and runs the handler once', async () => {
    const { hooks, app, events } = setup();
    const delivery = apifyDelivery({ token: TOKEN });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    expect((await sendDelivery(app, delivery)).status).toBe(200);
    await hooks.onIdle();
    expect(events).toHaveLength(1);
  });

  it('falls back to the run id plus the event type without a dispatch id', async () => {
    const { hooks, app, events } = setup();
    const { 'x-apify-webhook-dispatch-id': _id, ...headers } = apifyDelivery({ token: TOKEN }).headers;
    expect((await sendDelivery(app, { ...apifyDelivery({ token: TOKEN }), headers })).status).toBe(202);
    expect((await sendDelivery(app, { ...apifyDelivery({ token: TOKEN, type: 'ACTOR.RUN.FAILED' }), headers })).status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => e.id)).toEqual(['HG7ML7M8z78YcAPEB:ACTOR.RUN.SUCCEEDED', 'HG7ML7M8z78YcAPEB:ACTOR.RUN.FAILED']);
  });
});

describe('apify() with a custom payload template', () => {
  const schema = z.object({ event: z.string(), runId: z.string(), dataset: z.string() });

  it('validates with the user schema and reads the event type where told (202)', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN, schema, eventType: 'event' }) }));
    const runs: string[] = [];
    hooks.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => void runs.push(`${payload.runId}:${payload.dataset}`));
    const body = { event: 'ACTOR.RUN.SUCCEEDED', runId: 'r1', dataset: 'd1' };
    const res = await sendDelivery(appWith(hooks, ...ROUTES), apifyDelivery({ token: TOKEN, body }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(runs).toEqual(['r1:d1']);
  });

  it('responds 400 when the body does not match the user schema', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN, schema, eventType: 'event' }) }));
    const res = await sendDelivery(appWith(hooks, ...ROUTES), apifyDelivery({ token: TOKEN, body: { event: 'ACTOR.RUN.SUCCEEDED' } }));
    expect(res.status).toBe(400);
  });

  it('reads the event type from a header set through the headers template (202)', async () => {
    const provider = apify({ token: TOKEN, schema: z.object({ runId: z.string() }), eventType: (_body, req) => req.header('x-event') });
    const hooks = track(createReceiver({ provider }));
    const events = recordEvents(hooks);
    const res = await sendDelivery(appWith(hooks, ...ROUTES), apifyDelivery({ token: TOKEN, body: { runId: 'r2' }, headers: { 'x-event': 'ACTOR.RUN.ABORTED' } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => [e.type, e.payload])).toEqual([['ACTOR.RUN.ABORTED', { runId: 'r2' }]]);
  });
});
