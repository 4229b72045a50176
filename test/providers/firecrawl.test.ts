import { describe, expect, it } from 'vitest';
import { createReceiver, firecrawl, type FirecrawlMonitorPage, type WebhookEvent } from '../../src/index.ts';
import { firecrawlDelivery, firecrawlSamples, runEvent, sendDelivery, signFirecrawl } from '../../src/testing/index.ts';
import { appWith, fixture, fixtures, memoryLogger, recordEvents, track } from './helpers.ts';

const SECRET = 'fc-test-secret';
const PATH = '/webhooks/firecrawl';

function setup(options: Parameters<typeof firecrawl>[0] = { secret: SECRET }) {
  const hooks = track(createReceiver({ provider: firecrawl(options), retry: { attempts: 1 } }));
  return { hooks, app: appWith(hooks, PATH), events: recordEvents(hooks) };
}

describe('firecrawl() fixtures over HTTP', () => {
  it.each(fixtures('firecrawl').map((f) => [f.file, f] as const))('responds 202 to %s and runs its handler with the payload', async (_file, fx) => {
    const { hooks, app } = setup();
    const seen: WebhookEvent[] = [];
    hooks.on(fx.event as 'crawl.page', (event) => void seen.push(event));
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, body: fx.body!, headers: fx.headers }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(seen).toHaveLength(1);
    const body = fx.body as { id?: string; jobId?: string; webhookId: string; type: string };
    expect(seen[0]).toMatchObject({ type: fx.event, provider: 'firecrawl', id: body.webhookId });
    // The legacy v0 `jobId` is offered as `id` too.
    expect(seen[0]!.payload).toMatchObject({ type: body.type, id: body.id ?? body.jobId });
  });

  it('keeps page formats and metadata the schema does not name', async () => {
    const { hooks, app } = setup();
    const pages: unknown[] = [];
    hooks.on('crawl.page', ({ payload }) => void pages.push(...payload.data));
    const page = { markdown: '# Hi', changeTracking: { changeStatus: 'new' }, metadata: { sourceURL: 'https://example.com', ogTitle: 'Hi' } };
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, payload: { data: [page] } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(pages).toEqual([page]);
  });

  it("responds 202 to a monitor.page as Firecrawl's sender sends it and hands over the page with its judged changes", async () => {
    const { hooks, app } = setup();
    const fx = fixture('firecrawl', 'monitor.page-array.json');
    const seen: FirecrawlMonitorPage[] = [];
    hooks.on('monitor.page', ({ payload }) => void seen.push(payload.data));
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, body: fx.body!, headers: fx.headers }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    // `data` is a one-element array on the wire: handlers get the page itself.
    expect(seen).toEqual([(fx.body!.data as unknown[])[0]]);
    expect(seen[0]!.judgment?.meaningfulChanges).toEqual([
      { type: 'changed', before: 'Plan 2: 18 USD', after: 'Plan 2: 20 USD', reason: 'Price of Plan 2 changed' },
      { type: 'added', before: null, after: 'Plan 3: 45 USD', reason: 'A new plan is listed' },
    ]);
  });

  it('responds 202 to a monitor event whose data is an object, as the docs show, and hands the same object over', async () => {
    const { hooks, app } = setup();
    const [page] = firecrawlSamples['monitor.page'].data as [Record<string, unknown>];
    const seen: unknown[] = [];
    hooks.on('monitor.page', ({ payload }) => void seen.push(payload.data));
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, type: 'monitor.page', payload: { data: page } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(seen).toEqual([page]);
  });

  it('runs monitor handlers on the scrapehook/testing samples, which are shaped as the sender sends them', async () => {
    const { hooks } = setup();
    const changes: unknown[] = [];
    hooks.on('monitor.page', ({ payload }) => void changes.push(...(payload.data.judgment?.meaningfulChanges ?? [])));
    await runEvent(hooks, 'monitor.page');
    await runEvent(hooks, 'monitor.check.completed');
    expect(changes).toEqual([expect.objectContaining({ type: 'changed', reason: 'Price of Team changed' })]);
  });

  it('responds 400 naming the path when a meaningful change is neither an object nor a string', async () => {
    const { app } = setup();
    const [page] = firecrawlSamples['monitor.page'].data as [{ judgment: object }];
    const data = [{ ...page, judgment: { ...page.judgment, meaningfulChanges: [42] } }];
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, type: 'monitor.page', payload: { data } }));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'payload.invalid' } });
    expect(JSON.stringify(res.json)).toContain('meaningfulChanges');
  });

  it('responds 202 to schedule.completed and schedule.failed and runs their own handlers, keeping the undocumented data as sent', async () => {
    const { hooks, app } = setup();
    const seen: unknown[] = [];
    hooks.on('schedule.completed', ({ type, payload }) => void seen.push({ type, id: payload.id, data: payload.data }));
    hooks.on('schedule.failed', ({ type, payload }) => void seen.push({ type, id: payload.id, error: payload.error }));
    const data = [{ scheduleId: 'sched-1', jobId: 'crawl-9', nextRunAt: '2026-11-21T00:00:00Z' }];
    const completed = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, type: 'schedule.completed', payload: { id: 'sched-1', data } }));
    const failed = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, type: 'schedule.failed', payload: { id: 'sched-1' } }));
    expect([completed.status, failed.status]).toEqual([202, 202]);
    await hooks.onIdle();
    expect(seen).toEqual([
      { type: 'schedule.completed', id: 'sched-1', data },
      { type: 'schedule.failed', id: 'sched-1', error: 'Scheduled crawl failed' },
    ]);
  });

  it('responds 202 to an event type Firecrawl adds later and hands it to onAny', async () => {
    const { hooks, app, events } = setup();
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, body: { success: true, type: 'map.completed', id: 'job-1', webhookId: 'wh-map', data: [] } }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => [e.type, e.id])).toEqual([['map.completed', 'wh-map']]);
  });

  it('responds 400 when crawl.page data is not a list of documents', async () => {
    const { app } = setup();
    const res = await sendDelivery(app, firecrawlDelivery({ secret: SECRET, payload: { data: 'oops' } }));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'payload.invalid' } });
  });
});

describe('firecrawl() authentication', () => {
  it('responds 202 to the known-answer vector from PROVIDERS.md', async () => {
    const { app } = setup({ secret: 'secret' });
    const body = '{"success":true,"type":"crawl.page","id":"crawl-123","webhookId":"webhook-123","data":[]}';
    const signature = 'sha256=29729c39fd5f57c6f4d50c86dd20256a5d77b7b39d19531c17805163fb830d40';
    expect(signFirecrawl(body, 'secret')).toBe(signature);
    const res = await sendDelivery(app, { method: 'POST', path: PATH, headers: { 'content-type': 'application/json', 'x-firecrawl-signature': signature }, body: Buffer.from(body) });
    expect(res.status).toBe(202);
  });

  it('responds 401 when the signature is wrong', async () => {
    const { app, events } = setup();
    const res = await sendDelivery(app, firecrawlDelivery({ secret: 'another-secret' }));
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: { code: 'unauthorized', message: 'Authentication failed' } });
    expect(events).toEqual([]);
  });

  it('responds 401 when the body was changed by one byte after signing', async () => {
    const { app } = setup();
    const delivery = firecrawlDelivery({ secret: SECRET });
    const body = Buffer.from(delivery.body);
    const at = body.indexOf('Pricing');
    body[at] = 'p'.charCodeAt(0);
    const res = await sendDelivery(app, { ...delivery, body });
    expect(res.status).toBe(401);
  });

  it('responds 401 when the signature header is missing', async () => {
    const { app } = setup();
    const { 'x-firecrawl-signature': _signature, ...headers } = firecrawlDelivery({ secret: SECRET }).headers;
    const res = await sendDelivery(app, { ...firecrawlDelivery({ secret: SECRET }), headers });
    expect(res.status).toBe(401);
  });

  it('responds 202 to deliveries signed with either secret while they rotate', async () => {
    const { app } = setup({ secrets: ['old-secret', 'new-secret'] });
    expect((await sendDelivery(app, firecrawlDelivery({ secret: 'old-secret' }))).status).toBe(202);
    expect((await sendDelivery(app, firecrawlDelivery({ secret: 'new-secret' }))).status).toBe(202);
  });

  it('throws a TypeError naming both ways in when given neither a secret nor a token, naming no value', () => {
    expect(() => firecrawl({})).toThrow(TypeError);
    expect(() => firecrawl({})).toThrow(/`secret`.*`token`.*got neither/);
    expect(() => firecrawl({ secret: '' })).toThrow(/`secret`/);
    expect(() => firecrawl({ token: '' })).toThrow(/`token`/);
    expect(() => firecrawl({ secret: SECRET, tokenFrom: { header: 'x-token' } })).toThrow(/`token`.*`tokenFrom`/);
    expect(() => firecrawl(undefined as never)).toThrow(TypeError);
  });
});

describe('firecrawl({ token }): unsigned deliveries from a team without a webhook secret', () => {
  const TOKEN = 'fc-url-token-0123456789abcdef';
  const ROUTES = [`${PATH}/:token`, PATH];

  function setupToken(options: Parameters<typeof firecrawl>[0]) {
    const logger = memoryLogger();
    const hooks = track(createReceiver({ provider: firecrawl(options), retry: { attempts: 1 }, logger }));
    return { hooks, logger, app: appWith(hooks, ...ROUTES), events: recordEvents(hooks) };
  }

  it.each(['param', 'query', 'header'] as const)('responds 202 to an unsigned delivery with the token in the %s and runs its handler', async (tokenIn) => {
    const { hooks, app } = setupToken({ token: TOKEN });
    const pages: unknown[] = [];
    hooks.on('crawl.page', ({ payload }) => void pages.push(...payload.data));
    const delivery = firecrawlDelivery({ token: TOKEN, tokenIn });
    expect(delivery.headers).not.toHaveProperty('x-firecrawl-signature');
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    await hooks.onIdle();
    expect(pages).toHaveLength(1);
  });

  it('responds 401 to a wrong or missing token, and never logs the token', async () => {
    const { app, events, logger } = setupToken({ token: TOKEN });
    const wrong = await sendDelivery(app, firecrawlDelivery({ token: `${TOKEN}x` }));
    // A valid signature is no substitute for the token this receiver asks for.
    const signedOnly = await sendDelivery(app, firecrawlDelivery({ secret: SECRET }));
    expect([wrong.status, signedOnly.status]).toEqual([401, 401]);
    expect(wrong.json).toEqual({ error: { code: 'unauthorized', message: 'Authentication failed' } });
    expect(events).toEqual([]);
    expect((await sendDelivery(app, firecrawlDelivery({ token: TOKEN, tokenIn: 'query' }))).status).toBe(202);
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.join('\n')).not.toContain(TOKEN);
  });

  it('with both a secret and a token, responds 202 only when the signature and the token both match', async () => {
    const { app } = setupToken({ secret: SECRET, token: TOKEN });
    expect((await sendDelivery(app, firecrawlDelivery({ secret: SECRET, token: TOKEN }))).status).toBe(202);
    expect((await sendDelivery(app, firecrawlDelivery({ secret: SECRET }))).status).toBe(401);
    expect((await sendDelivery(app, firecrawlDelivery({ token: TOKEN }))).status).toBe(401);
    expect((await sendDelivery(app, firecrawlDelivery({ secret: 'another-secret', token: TOKEN }))).status).toBe(401);
    expect((await sendDelivery(app, firecrawlDelivery({ secret: SECRET, token: 'another-token' }))).status).toBe(401);
  });

  it('accepts either token while they rotate, and only the header when tokenFrom says so', async () => {
    const rotating = setupToken({ tokens: ['old-token', 'new-token'] });
    expect((await sendDelivery(rotating.app, firecrawlDelivery({ token: 'old-token' }))).status).toBe(202);
    expect((await sendDelivery(rotating.app, firecrawlDelivery({ token: 'new-token' }))).status).toBe(202);
    const headerOnly = setupToken({ token: TOKEN, tokenFrom: { header: 'x-webhook-token' } });
    expect((await sendDelivery(headerOnly.app, firecrawlDelivery({ token: TOKEN }))).status).toBe(401);
    const inHeader = firecrawlDelivery({ token: TOKEN, tokenIn: 'header' });
    const { authorization: _bearer, ...headers }: Record<string, string> = { ...inHeader.headers, 'x-webhook-token': TOKEN };
    expect((await sendDelivery(headerOnly.app, { ...inHeader, headers })).status).toBe(202);
  });
});

describe('firecrawl() deduplication', () => {
  it('responds 200 duplicate to a retry with the same webhookId and runs the handler once', async () => {
    const { hooks, app, events } = setup();
    const delivery = firecrawlDelivery({ secret: SECRET });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    const retry = await sendDelivery(app, delivery);
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ duplicate: true });
    await hooks.onIdle();
    expect(events).toHaveLength(1);
  });

  it('dedupes by a hash of the body when there is no webhookId', async () => {
    const { hooks, app, events } = setup();
    const { webhookId: _id, ...body } = firecrawlSamples['crawl.completed'];
    const delivery = firecrawlDelivery({ secret: SECRET, body });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    expect((await sendDelivery(app, delivery)).status).toBe(200);
    await hooks.onIdle();
    expect(events).toHaveLength(1);
    expect(events[0]!.id).toMatch(/^sha256:/);
  });
});

describe("firecrawl() aliases (Firecrawl's event filter names)", () => {
  it('runs a `completed` handler for every job kind but not for monitor.check.completed, as Firecrawl filters', async () => {
    const { hooks } = setup();
    const types: string[] = [];
    hooks.on('completed', (event) => void types.push(event.type));
    for (const type of ['crawl.completed', 'batch_scrape.completed', 'extract.completed', 'agent.completed', 'schedule.completed', 'monitor.check.completed'] as const) {
      await runEvent(hooks, type);
    }
    expect(types).toEqual(['crawl.completed', 'batch_scrape.completed', 'extract.completed', 'agent.completed', 'schedule.completed']);
  });

  it('runs `page`, `failed` and `check.completed` handlers for their event types', async () => {
    const { hooks } = setup();
    const seen: string[] = [];
    hooks.on('page', (event) => void seen.push(`page:${event.type}`));
    hooks.on('failed', (event) => void seen.push(`failed:${event.type}`));
    hooks.on('check.completed', (event) => void seen.push(`check:${event.type}`));
    for (const type of ['batch_scrape.page', 'monitor.page', 'agent.failed', 'crawl.failed', 'schedule.failed', 'monitor.check.completed', 'crawl.started'] as const) {
      await runEvent(hooks, type);
    }
    expect(seen).toEqual(['page:batch_scrape.page', 'page:monitor.page', 'failed:agent.failed', 'failed:crawl.failed', 'failed:schedule.failed', 'check:monitor.check.completed']);
  });
});
