// The demo receiver as an Express app, without listening: `examples/demo.ts` starts it, and the
// test builds it. In your own code, import from 'scrapehook' instead of '../src/index.ts'.
import { randomBytes } from 'node:crypto';
import express from 'express';
import { z } from 'zod';
import { apify, createReceiver, firecrawl, standardWebhooks, thordata, webScraper, type Logger, type WebhookEvent } from '../src/index.ts';

/** Fetches the records of a finished Web Scraper Cloud job. */
export type FetchJobRecords = (jobId: number, signal: AbortSignal) => Promise<unknown[]>;

export interface DemoOptions {
  /** Where the one-line JSON record of each handled event goes. @default stdout */
  write?: (line: string) => void;
  /** How job data is fetched. @default from Web Scraper Cloud when WEBSCRAPER_API_TOKEN is set, else simulated */
  fetchJobRecords?: FetchJobRecords;
  /** Where the receivers' log lines go: one per rejection (`401 unauthorized`), failure or notice. @default stderr */
  log?: (line: string) => void;
}

type Env = Readonly<Record<string, string | undefined>>;

export function createDemoApp(env: Env = process.env, options: DemoOptions = {}) {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const fetchJobRecords = options.fetchJobRecords ?? (env.WEBSCRAPER_API_TOKEN ? webScraperCloud(env.WEBSCRAPER_API_TOKEN) : simulatedJobRecords);

  // Secure by default: a secret that is not set is generated for this run (demo.ts prints it once).
  const generated: Record<string, string> = {};
  const secret = (name: string, make: () => string) => env[name] || (generated[name] = make());
  const token = () => randomBytes(24).toString('base64url');

  const logger = lineLogger(options.log ?? ((line: string) => void process.stderr.write(`${line}\n`)));
  const receivers = {
    firecrawl: createReceiver({ logger, provider: firecrawl({ secret: secret('FIRECRAWL_WEBHOOK_SECRET', token) }) }),
    apify: createReceiver({ logger, provider: apify({ token: secret('APIFY_WEBHOOK_TOKEN', token) }) }),
    thordata: createReceiver({ logger, provider: thordata({ token: secret('THORDATA_WEBHOOK_TOKEN', token) }) }),
    webscraper: createReceiver({ logger, provider: webScraper({ token: secret('WEBSCRAPER_WEBHOOK_TOKEN', token) }) }),
    standard: createReceiver({
      logger,
      provider: standardWebhooks({
        secret: secret('STANDARD_WEBHOOK_SECRET', () => `whsec_${randomBytes(24).toString('base64')}`),
        data: z.record(z.string(), z.unknown()),
      }),
    }),
  };

  // One line per handled event: ids and types only, never payloads (Thordata's carry an API key).
  const record = (event: WebhookEvent) =>
    write(JSON.stringify({ provider: event.provider, type: event.type, id: event.id, attempt: event.attempt }));
  for (const hooks of Object.values(receivers)) hooks.onAny(record);

  // Web Scraper Cloud's advice: acknowledge at once, import from a queue. The receiver answered
  // 202 before this handler runs; a failure here is retried with backoff, never by the sender.
  const imported = { jobs: 0, records: 0 };
  receivers.webscraper.on('scrapingjob.finished', async ({ payload }, { signal }) => {
    const records = await fetchJobRecords(payload.scrapingjob_id, signal);
    imported.jobs++;
    imported.records += records.length;
  });

  const app = express();
  // app.all, not app.post: every method reaches the receiver, which answers 405 with Allow: POST
  // (with app.post, Express would answer a GET with its own 404 page).
  app.all('/webhooks/firecrawl', receivers.firecrawl.middleware());
  app.all('/webhooks/apify/:token', receivers.apify.middleware());
  app.all('/webhooks/thordata/:token', receivers.thordata.middleware());
  app.all('/webhooks/webscraper/:token', receivers.webscraper.middleware());
  app.all('/webhooks/standard', receivers.standard.middleware());
  app.get('/healthz', (_req, res) => {
    const stats = Object.fromEntries(Object.entries(receivers).map(([name, hooks]) => [name, hooks.stats()]));
    res.json({ status: 'ok', receivers: stats, imported });
  });

  return {
    app,
    receivers,
    /** The secrets and tokens generated because they were not set, by variable name. */
    generated,
    /** Stops accepting (503 with Retry-After) and waits for queued handlers. */
    close: () => Promise.all(Object.values(receivers).map((hooks) => hooks.close())).then(() => undefined),
  };
}

/**
 * A logger that writes one line per log call: a rejection as `rejected <provider>: <status> <code>`,
 * anything else as its message and a few fields. Only the fields named here are printed: never the
 * request URL (it holds the token), headers or bodies. In your app, pass `pino()` instead.
 */
function lineLogger(write: (line: string) => void): Logger {
  const SAFE = ['provider', 'type', 'id', 'attempt', 'attempts', 'delayMs', 'count'] as const;
  const line = (level: string) => (objOrMsg: object | string, msg?: string) => {
    const fields: Record<string, unknown> = typeof objOrMsg === 'string' ? {} : { ...objOrMsg };
    const text = typeof objOrMsg === 'string' ? objOrMsg : (msg ?? '');
    if (typeof fields.status === 'number' && typeof fields.code === 'string') {
      return write(`rejected ${String(fields.provider)}: ${fields.status} ${fields.code}`);
    }
    const shown: Record<string, unknown> = {};
    for (const key of SAFE) if (fields[key] !== undefined) shown[key] = fields[key];
    // The error of a handler that failed: the demo's own handlers, whose messages hold no secret.
    if (fields.err instanceof Error) shown.error = fields.err.message;
    write(`${level} ${text}${Object.keys(shown).length > 0 ? ` ${JSON.stringify(shown)}` : ''}`);
  };
  return { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
}

/** A stand-in for the data API, so the demo needs no network. */
const simulatedJobRecords: FetchJobRecords = async (jobId, signal) => {
  signal.throwIfAborted();
  return [1, 2, 3].map((n) => ({ 'web-scraper-order': `${jobId}-${n}`, title: `Record ${n}` }));
};

/** The real fetch: GET scraping-job/{id}/json answers JSON Lines, one record a line. */
function webScraperCloud(apiToken: string): FetchJobRecords {
  return async (jobId, signal) => {
    const url = `https://api.webscraper.io/api/v1/scraping-job/${jobId}/json?api_token=${encodeURIComponent(apiToken)}`;
    const res = await fetch(url, { signal });
    // Throwing makes the receiver retry with backoff (the API answers 429 beyond 200 calls / 15 min).
    if (!res.ok) throw new Error(`Web Scraper Cloud answered ${res.status} for job ${jobId}`);
    return (await res.text())
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  };
}
