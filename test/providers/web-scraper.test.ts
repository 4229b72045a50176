import type http from 'node:http';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createReceiver, webScraper, type WebhookEvent } from '../../src/index.ts';
import { sendDelivery, webScraperDelivery, type TestDelivery } from '../../src/testing/index.ts';
import { appWith, fixtures, recordEvents, track } from './helpers.ts';

const TOKEN = 'webscraper-url-token';
const ROUTES = ['/webhooks/webscraper/:token', '/webhooks/webscraper'];

function setup(options: Parameters<typeof webScraper>[0] = { token: TOKEN }) {
  const hooks = track(createReceiver({ provider: webScraper(options), retry: { attempts: 1 } }));
  return { hooks, app: appWith(hooks, ...ROUTES), events: recordEvents(hooks) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('webScraper() fixtures over HTTP', () => {
  it.each(fixtures('webscraper').map((f) => [f.file, f] as const))('responds 202 to %s and runs its handler with the payload', async (_file, fx) => {
    const { hooks, app } = setup();
    const seen: WebhookEvent[] = [];
    hooks.on(fx.event as 'scrapingjob.finished', (event) => void seen.push(event));
    const res = await sendDelivery(app, webScraperDelivery({ token: TOKEN, body: fx.bodyText!, headers: fx.headers }));
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(seen).toHaveLength(1);
    const fields = Object.fromEntries(new URLSearchParams(fx.bodyText));
    expect(seen[0]).toMatchObject({ type: fx.event, provider: 'webscraper' });
    expect(seen[0]!.payload).toEqual({
      scrapingjob_id: 1234,
      status: fields.status,
      sitemap_id: 12,
      sitemap_name: 'my-sitemap',
      // An empty custom_id is absent.
      ...(fields.custom_id ? { custom_id: fields.custom_id } : {}),
    });
  });

  it('responds 202 to the same fields sent as JSON, numbers or strings', async () => {
    const { hooks, app, events } = setup();
    expect((await sendDelivery(app, webScraperDelivery({ token: TOKEN, as: 'json' }))).status).toBe(202);
    const body = { scrapingjob_id: 99, status: 'stopped', sitemap_id: 12, sitemap_name: 'my-sitemap' };
    expect((await sendDelivery(app, webScraperDelivery({ token: TOKEN, body, headers: { 'content-type': 'application/json' } }))).status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => [e.type, (e.payload as { scrapingjob_id: number }).scrapingjob_id])).toEqual([
      ['scrapingjob.finished', 1234],
      ['scrapingjob.stopped', 99],
    ]);
  });

  it('responds 202 to a status the docs do not list and hands it to onAny', async () => {
    const { hooks, app, events } = setup();
    expect((await sendDelivery(app, webScraperDelivery({ token: TOKEN, payload: { status: 'shelved' } }))).status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => e.type)).toEqual(['scrapingjob.shelved']);
  });

  it('responds 400 when the job id is not a number', async () => {
    const { app } = setup();
    const res = await sendDelivery(app, webScraperDelivery({ token: TOKEN, payload: { scrapingjob_id: 'abc' } }));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'payload.invalid' } });
  });
});

describe('webScraper() authentication', () => {
  it.each(['param', 'query'] as const)('responds 202 with the token in the %s', async (tokenIn) => {
    const { app } = setup();
    expect((await sendDelivery(app, webScraperDelivery({ token: TOKEN, tokenIn }))).status).toBe(202);
  });

  it('responds 401 when the token is wrong', async () => {
    const { app, events } = setup();
    expect((await sendDelivery(app, webScraperDelivery({ token: 'wrong-token' }))).status).toBe(401);
    expect(events).toEqual([]);
  });

  it('responds 401 when the URL carries no token', async () => {
    const { app } = setup();
    expect((await sendDelivery(app, { ...webScraperDelivery({ token: TOKEN }), path: '/webhooks/webscraper' })).status).toBe(401);
  });

  it('throws a TypeError for a missing token or a bad dedupeWindowMs', () => {
    expect(() => webScraper({})).toThrow(/`token`/);
    expect(() => webScraper({ token: TOKEN, dedupeWindowMs: -1 })).toThrow(/`dedupeWindowMs`/);
    expect(() => webScraper({ token: TOKEN, dedupeWindowMs: 0 })).toThrow(/`dedupeWindowMs`/);
  });
});

/**
 * Sends as Web Scraper Cloud does: up to 3 attempts, retrying when no 2xx came back in time or the
 * status is >= 300, after 5 s and then 10 s; each attempt waits 10 s. The delays are scaled down
 * 1000x. The wait of each attempt is `timeoutsMs[attempt - 1]`: a short one where the test's network
 * swallows the answer (it never comes, so any wait ends the same), a long one where an answer comes,
 * so that a slow machine does not turn it into a timeout.
 */
async function sendLikeWebScraperCloud(server: http.Server, delivery: TestDelivery, timeoutsMs: readonly number[]): Promise<(number | 'timeout')[]> {
  const retryDelaysMs = [5, 10];
  const outcomes: (number | 'timeout')[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const res = await sendDelivery(server, delivery, { timeoutMs: timeoutsMs[attempt - 1]! });
      outcomes.push(res.status);
      if (res.status < 300) break;
    } catch {
      outcomes.push('timeout');
    }
    if (attempt < 3) await new Promise((resolve) => setTimeout(resolve, retryDelaysMs[attempt - 1]));
  }
  return outcomes;
}

describe("webScraper() and the sender's retries", () => {
  it('runs the handler once when the same notification arrives three times (slow answer, then 502, then 200)', async () => {
    const hooks = track(createReceiver({ provider: webScraper({ token: TOKEN }) }));
    const imported: number[] = [];
    hooks.on('scrapingjob.finished', ({ payload }) => void imported.push(payload.scrapingjob_id));
    // The network between the sender and the receiver: the receiver's answer to the first attempt
    // never arrives in time, and a proxy turns the answer to the second into a 502.
    let attempt = 0;
    const app = express();
    app.post(
      '/webhooks/webscraper/:token',
      (_req, res, next) => {
        attempt++;
        if (attempt === 1) {
          res.writeHead = (() => res) as unknown as typeof res.writeHead;
          res.end = (() => res) as unknown as typeof res.end;
        } else if (attempt === 2) {
          const writeHead = res.writeHead.bind(res) as (status: number, headers?: http.OutgoingHttpHeaders) => typeof res;
          res.writeHead = ((_status: number, headers?: http.OutgoingHttpHeaders) => writeHead(502, headers)) as typeof res.writeHead;
        }
        next();
      },
      hooks.middleware(),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      // The first answer never arrives: its wait ends the same however long it is.
      const outcomes = await sendLikeWebScraperCloud(server, webScraperDelivery({ token: TOKEN }), [100, 10_000, 10_000]);
      expect(outcomes).toEqual(['timeout', 502, 200]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await hooks.onIdle();
    expect(imported).toEqual([1234]);
    expect(hooks.stats()).toMatchObject({ accepted: 1, duplicates: 2 });
  });

  it('delivers again a notification for the same job and status after "Continue", past the window (202)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T10:00:00Z'));
    const { hooks, app, events } = setup();
    const delivery = webScraperDelivery({ token: TOKEN, type: 'scrapingjob.failed' });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    // The sender's last retry, 45 s after the first arrival, is still within the 60 s window.
    vi.setSystemTime(new Date('2026-11-20T10:00:45Z'));
    expect((await sendDelivery(app, delivery)).status).toBe(200);
    // The user pressed "Continue"; the job failed again and notifies anew.
    vi.setSystemTime(new Date('2026-11-20T10:30:00Z'));
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    await hooks.onIdle();
    expect(events.map((e) => e.id)).toEqual(['1234:failed', '1234:failed']);
    expect(events.map((e) => e.receivedAt.toISOString())).toEqual(['2026-11-20T10:00:00.000Z', '2026-11-20T10:30:00.000Z']);
  });

  it('runs a "Continue" notification that comes 90 s after the first, past the default 60 s window (202), while a retry at 45 s is a duplicate (200)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T10:00:00Z'));
    const { hooks, app } = setup();
    const runs: string[] = [];
    hooks.on('scrapingjob.failed', ({ receivedAt }) => void runs.push(receivedAt.toISOString()));
    const delivery = webScraperDelivery({ token: TOKEN, type: 'scrapingjob.failed' });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    // The sender's own retries end within about 35-45 s of the first attempt: the same notification.
    vi.setSystemTime(new Date('2026-11-20T10:00:45Z'));
    const retry = await sendDelivery(app, delivery);
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ duplicate: true });
    // The user pressed "Continue" soon after; the job failed again: byte-identical, but a new notification.
    vi.setSystemTime(new Date('2026-11-20T10:01:30Z'));
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    await hooks.onIdle();
    expect(runs).toEqual(['2026-11-20T10:00:00.000Z', '2026-11-20T10:01:30.000Z']);
  });

  it('anchors the window on the first arrival, so a retry across a clock boundary is still a duplicate (200)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T10:01:59.900Z'));
    const { hooks, app, events } = setup();
    const delivery = webScraperDelivery({ token: TOKEN });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    vi.setSystemTime(new Date('2026-11-20T10:02:14Z'));
    expect((await sendDelivery(app, delivery)).status).toBe(200);
    await hooks.onIdle();
    expect(events).toHaveLength(1);
  });

  it("lets the receiver's dedupe.ttlMs override the window", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-20T10:00:00Z'));
    const hooks = createReceiver({ provider: webScraper({ token: TOKEN }), dedupe: { ttlMs: 10_000 } });
    const seen: string[] = [];
    hooks.onAny((event) => void seen.push(event.id));
    const app = express();
    app.post('/webhooks/webscraper/:token', hooks.middleware());
    const delivery = webScraperDelivery({ token: TOKEN });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    vi.setSystemTime(new Date('2026-11-20T10:00:30Z'));
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    await hooks.close();
    expect(seen).toEqual(['1234:finished', '1234:finished']);
  });
});
