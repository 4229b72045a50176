import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createReceiver, thordata, type WebhookEvent } from '../../src/index.ts';
import { sendDelivery, thordataDelivery } from '../../src/testing/index.ts';
import { appWith, fixture, fixtures, memoryLogger, recordEvents, track } from './helpers.ts';

const TOKEN = 'thordata-url-token';
const ROUTES = ['/webhooks/thordata/:token', '/webhooks/thordata'];

function setup(options: Parameters<typeof thordata>[0] = { token: TOKEN }) {
  const logger = memoryLogger();
  const hooks = track(createReceiver({ provider: thordata(options), retry: { attempts: 1 }, logger }));
  return { hooks, logger, app: appWith(hooks, ...ROUTES), events: recordEvents(hooks) };
}

describe('thordata() fixtures over HTTP', () => {
  it.each(fixtures('thordata').map((f) => [f.file, f] as const))('responds 202 to %s and runs its handler with the payload', async (_file, fx) => {
    const { hooks, app } = setup();
    const seen: WebhookEvent[] = [];
    hooks.on(fx.event as 'ACTOR.RUN.SUCCEEDED', (event) => void seen.push(event));
    const res = await sendDelivery(app, thordataDelivery({ token: TOKEN, body: fx.body!, headers: fx.headers }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: fx.event, provider: 'thordata', id: `${fx.headers['webhook-dispatch-id']}:${fx.event}` });
    // userId arrives as a number or a string: always a string.
    expect(seen[0]!.payload).toMatchObject({ userId: '3406', eventType: fx.event, eventData: { prodect_id: '3' } });
  });

  it('offers resource.url parsed, numbers as numbers, empty file URLs as absent', async () => {
    const { hooks, app } = setup();
    const seen: unknown[] = [];
    hooks.on('ACTOR.RUN.FAILED', ({ payload }) => void seen.push(payload.resource));
    const body = fixture('thordata', 'ACTOR.RUN.FAILED.json').body!;
    const resource = { ...(body.resource as object), apiCode: '400', errorNumber: '26' };
    expect((await sendDelivery(app, thordataDelivery({ token: TOKEN, body: { ...body, resource } }))).status).toBe(202);
    await hooks.onIdle();
    expect(seen[0]).toMatchObject({
      apiCode: 400,
      errorNumber: 26,
      jsonUrl: undefined,
      spiderParams: { spider_id: '3', spider_errors: true, spider_parameters: [{ url: 'https://www.amazon.com/dp/B0DPMHRZ1W?th=1&psc=1' }] },
    });
  });

  it('never hands over, logs or echoes the account apiKey', async () => {
    const { hooks, app, logger } = setup();
    const fx = fixture('thordata', 'ACTOR.RUN.SUCCEEDED.json');
    const apiKey = (fx.body!.resource as { apiKey: string }).apiKey;
    const payloads: unknown[] = [];
    hooks.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => void payloads.push(payload));
    const accepted = await sendDelivery(app, thordataDelivery({ token: TOKEN, body: fx.body!, headers: fx.headers }));
    const invalid = await sendDelivery(app, thordataDelivery({ token: TOKEN, body: { ...fx.body!, eventData: 'x' } }));
    await hooks.onIdle();
    expect([accepted.status, invalid.status]).toEqual([202, 400]);
    expect(JSON.stringify(payloads)).not.toContain(apiKey);
    expect(accepted.text + invalid.text).not.toContain(apiKey);
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.join('\n')).not.toContain(apiKey);
  });

  it("responds 202 to the documented (quoted) template's JSON-in-a-string eventData and resource, handed over as objects without the apiKey", async () => {
    const { hooks, app, logger } = setup();
    const quoted = fixture('thordata', 'ACTOR.RUN.SUCCEEDED-quoted.json');
    const plain = fixture('thordata', 'ACTOR.RUN.SUCCEEDED.json');
    const apiKey = (plain.body!.resource as { apiKey: string }).apiKey;
    expect(quoted.body!.resource).toContain(apiKey);
    const payloads: unknown[] = [];
    hooks.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => void payloads.push(payload));
    const res = await sendDelivery(app, thordataDelivery({ token: TOKEN, body: quoted.body!, headers: quoted.headers }));
    expect(res.status).toBe(202);
    expect((await sendDelivery(app, thordataDelivery({ token: TOKEN, body: plain.body!, headers: plain.headers }))).status).toBe(202);
    await hooks.onIdle();
    // The same delivery either way: parsed, validated and normalised alike.
    expect(payloads).toHaveLength(2);
    expect(payloads[0]).toEqual(payloads[1]);
    expect(payloads[0]).toMatchObject({
      eventData: { prodect_id: '3', apiRunId: '2e9ddee0582a40a9b1c2d3e4f5a6b7c8' },
      resource: { taskId: '2e9ddee0582a40a9b1c2d3e4f5a6b7c8', apiCode: 200, spiderParams: { spider_id: '3' } },
    });
    expect(JSON.stringify(payloads)).not.toContain(apiKey);
    expect(logger.lines.join('\n')).not.toContain(apiKey);
  });

  it.each([
    ['resource', 'not json'],
    ['resource', '[{"taskId":"t1"}]'],
    ['eventData', '"{}"'],
    ['eventData', 'null'],
  ])('responds 400 naming %s when it is a string that does not hold a JSON object (%s)', async (field, text) => {
    const { app, events } = setup();
    const body = { ...fixture('thordata', 'ACTOR.RUN.SUCCEEDED-quoted.json').body!, [field]: text };
    const res = await sendDelivery(app, thordataDelivery({ token: TOKEN, body }));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'payload.invalid', issues: [{ path: [field] }] } });
    expect(events).toEqual([]);
  });

  it("responds 202 to the SDK spec's flat shape and hands it over in the template shape", async () => {
    const { hooks, app } = setup();
    const seen: unknown[] = [];
    hooks.on('ACTOR.RUN.SUCCEEDED', ({ payload }) => void seen.push(payload));
    const flat = { taskId: 't-flat', prodect_id: '3', apiCode: 200, apiErrorMsg: '', jsonUrl: 'https://files.example.com/t.json', csvUrl: '', status: 'success', createdTime: '2026-11-20T06:33:14Z', endTime: '2026-11-20T06:33:44Z' };
    expect((await sendDelivery(app, thordataDelivery({ token: TOKEN, body: flat }))).status).toBe(202);
    await hooks.onIdle();
    expect(seen).toEqual([
      expect.objectContaining({
        eventType: 'ACTOR.RUN.SUCCEEDED',
        createdAt: '2026-11-20T06:33:14Z',
        eventData: { prodect_id: '3', apiRunId: 't-flat' },
        resource: expect.objectContaining({ taskId: 't-flat', apiCode: 200, jsonUrl: 'https://files.example.com/t.json', finishedAt: '2026-11-20T06:33:44Z' }),
      }),
    ]);
  });

  it('responds 202 to an undocumented ACTOR.RUN.* type and hands it to onAny', async () => {
    const { hooks, app, events } = setup();
    const res = await sendDelivery(app, thordataDelivery({ token: TOKEN, payload: { eventType: 'ACTOR.RUN.CREATED' } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => e.type)).toEqual(['ACTOR.RUN.CREATED']);
  });
});

describe('thordata() authentication', () => {
  it.each(['param', 'query', 'header'] as const)('responds 202 with the token in the %s by default', async (tokenIn) => {
    const { app } = setup();
    expect((await sendDelivery(app, thordataDelivery({ token: TOKEN, tokenIn }))).status).toBe(202);
  });

  it('responds 401 when the token is wrong', async () => {
    const { app, events } = setup();
    expect((await sendDelivery(app, thordataDelivery({ token: 'wrong-token' }))).status).toBe(401);
    expect(events).toEqual([]);
  });

  it('throws a TypeError without a token', () => {
    expect(() => thordata({ token: '' })).toThrow(TypeError);
  });
});

describe('thordata() deduplication', () => {
  it('responds 200 duplicate to a resent dispatch and runs the handler once', async () => {
    const { hooks, app, events } = setup();
    const delivery = thordataDelivery({ token: TOKEN });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    expect((await sendDelivery(app, delivery)).status).toBe(200);
    await hooks.onIdle();
    expect(events).toHaveLength(1);
  });

  it('delivers two events of one task that share a dispatch id (said to carry the task id)', async () => {
    const { hooks, app, events } = setup();
    const headers = { 'webhook-dispatch-id': '2e9ddee0582a40a9b1c2d3e4f5a6b7c8' };
    expect((await sendDelivery(app, thordataDelivery({ token: TOKEN, payload: { eventType: 'ACTOR.RUN.RUNNING' }, headers }))).status).toBe(202);
    expect((await sendDelivery(app, thordataDelivery({ token: TOKEN, headers }))).status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => e.type)).toEqual(['ACTOR.RUN.RUNNING', 'ACTOR.RUN.SUCCEEDED']);
  });
});

describe('thordata() with a custom payload template', () => {
  it('validates with the user schema and reads the event type where told (202)', async () => {
    const schema = z.object({ status: z.string(), task: z.string() });
    const provider = thordata({ token: TOKEN, schema, eventType: (body) => (schema.safeParse(body).data?.status === 'ok' ? 'ACTOR.RUN.SUCCEEDED' : 'ACTOR.RUN.FAILED') });
    const hooks = track(createReceiver({ provider }));
    const tasks: string[] = [];
    hooks.on('ACTOR.RUN.FAILED', ({ payload }) => void tasks.push(payload.task));
    const res = await sendDelivery(appWith(hooks, ...ROUTES), thordataDelivery({ token: TOKEN, body: { status: 'error', task: 't9' } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(tasks).toEqual(['t9']);
  });
});
