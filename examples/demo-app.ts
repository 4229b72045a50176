// The demo receiver as an Express app, without listening: `examples/demo.ts` starts it, and the
// test builds it. In your own code, import from 'scrapehook' instead of '../src/index.ts' (and from
// 'scrapehook/testing' instead of '../src/testing/index.ts').
import { randomBytes } from 'node:crypto';
import express from 'express';
import { z } from 'zod';
import {
  apify,
  createReceiver,
  firecrawl,
  importRows,
  standardWebhooks,
  thordata,
  webScraper,
  webScraperData,
  type Logger,
  type WebhookEvent,
} from '../src/index.ts';
import { webScraperApiMock, type WebScraperApiMock } from '../src/testing/index.ts';

export interface DemoOptions {
  /** Where the one-line JSON records go: one per handled event and one per imported batch. @default stdout */
  write?: (line: string) => void;
  /** Where the receivers' log lines go: one per rejection (`401 unauthorized`), failure or notice. @default stderr */
  log?: (line: string) => void;
}

/** Where the demo imports Web Scraper Cloud jobs from. */
export interface DemoDataApi {
  /**
   * `mock`: the built-in local mock (neither variable set); `url`: the API at `WEBSCRAPER_API_URL`
   * (with `WEBSCRAPER_API_TOKEN`, or the mocks' default token); `webscraper`: the real API
   * (only `WEBSCRAPER_API_TOKEN` set).
   */
  readonly kind: 'mock' | 'url' | 'webscraper';
  /** The API base, without credentials or query. */
  readonly url: string;
  /** One line for stderr saying which API and why (never the token). */
  readonly description: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Rows the built-in mock serves for any job id. */
export const DEMO_MOCK_ROWS = 25;
/** Rows per batch the demo's import writes. */
export const DEMO_BATCH_SIZE = 10;
/** The token of `webScraperApiMock()` started without options: used with `WEBSCRAPER_API_URL` alone. */
const MOCK_DEFAULT_TOKEN = 'wsc-test-token';

export async function createDemoApp(env: Env = process.env, options: DemoOptions = {}) {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  // First, as it may throw (a malformed WEBSCRAPER_API_URL) before anything else is started.
  const { dataApi, baseUrl, apiToken, mock } = await webScraperApi(env);

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
  // 202 before this handler runs; importRows downloads the job's JSON Lines batch by batch,
  // checkpoints each batch, and a failure is retried with backoff, never by the sender.
  const importJob = importRows(webScraperData({ apiToken, baseUrl }), {
    batchSize: DEMO_BATCH_SIZE,
    // Your database goes here. The demo prints one line per batch: counts, never the rows.
    write(rows, batch) {
      write(JSON.stringify({ provider: 'webscraper', jobId: batch.jobId, batch: batch.index, rows: rows.length }));
    },
  });
  // The statuses webScraperData imports by default: a stopped job's rows are there too.
  receivers.webscraper.on('scrapingjob.finished', importJob);
  receivers.webscraper.on('scrapingjob.stopped', importJob);

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
    // Per job, from stats().imports (the latest 100 of each receiver): what was imported so far.
    const imports = Object.values(stats).flatMap((s) =>
      s.imports.map(({ provider, jobId, state, rows, batches, bytes }) => ({ provider, jobId, state, rows, batches, bytes })),
    );
    res.json({ status: 'ok', imports, receivers: stats });
  });

  return {
    app,
    receivers,
    /** The secrets and tokens generated because they were not set, by variable name. */
    generated,
    /** Where Web Scraper Cloud jobs are imported from. */
    dataApi,
    /** Stops accepting (503 with Retry-After), waits for queued handlers, then stops the built-in mock. */
    close: async () => {
      await Promise.all(Object.values(receivers).map((hooks) => hooks.close()));
      await mock?.close();
    },
  };
}

/**
 * A logger that writes one line per log call: a rejection as `rejected <provider>: <status> <code>`,
 * anything else as its message and a few fields. Only the fields named here are printed: never the
 * request URL (it holds the token), headers or bodies. In your app, pass `pino()` instead.
 */
function lineLogger(write: (line: string) => void): Logger {
  const SAFE = ['provider', 'type', 'id', 'jobId', 'attempt', 'attempts', 'delayMs', 'count', 'rows', 'batches', 'bytes'] as const;
  const line = (level: string) => (objOrMsg: object | string, msg?: string) => {
    const fields: Record<string, unknown> = typeof objOrMsg === 'string' ? {} : { ...objOrMsg };
    const text = typeof objOrMsg === 'string' ? objOrMsg : (msg ?? '');
    if (typeof fields.status === 'number' && typeof fields.code === 'string') {
      return write(`rejected ${String(fields.provider)}: ${fields.status} ${fields.code}`);
    }
    const shown: Record<string, unknown> = {};
    for (const key of SAFE) if (fields[key] !== undefined) shown[key] = fields[key];
    // The error of a handler that failed: the importer's messages never hold the API token.
    if (fields.err instanceof Error) shown.error = fields.err.message;
    write(`${level} ${text}${Object.keys(shown).length > 0 ? ` ${JSON.stringify(shown)}` : ''}`);
  };
  return { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * Which Web Scraper Cloud API the demo imports from. `WEBSCRAPER_API_URL` wins: with
 * `WEBSCRAPER_API_TOKEN` it is your own API (a mock, a proxy) with that token, alone it gets the
 * mocks' default token; `WEBSCRAPER_API_TOKEN` alone is the real API; neither starts the built-in
 * mock, which serves {@link DEMO_MOCK_ROWS} made-up rows for any job id.
 */
async function webScraperApi(env: Env): Promise<{ dataApi: DemoDataApi; baseUrl: string; apiToken: string; mock?: WebScraperApiMock }> {
  const apiUrl = env.WEBSCRAPER_API_URL;
  const apiToken = env.WEBSCRAPER_API_TOKEN;
  if (apiUrl) {
    let shown: URL;
    try {
      shown = new URL(apiUrl);
    } catch {
      throw new TypeError(`Expected WEBSCRAPER_API_URL to be an absolute URL (the API base, e.g. http://127.0.0.1:8080/api/v1/), got ${JSON.stringify(apiUrl)}`);
    }
    shown.username = '';
    shown.password = '';
    shown.search = '';
    shown.hash = '';
    const token = apiToken ? 'WEBSCRAPER_API_TOKEN' : "webScraperApiMock()'s default token (WEBSCRAPER_API_TOKEN is not set)";
    return {
      dataApi: { kind: 'url', url: shown.href, description: `Web Scraper Cloud jobs are imported from WEBSCRAPER_API_URL ${shown.href} with ${token}` },
      baseUrl: apiUrl,
      apiToken: apiToken || MOCK_DEFAULT_TOKEN,
    };
  }
  if (apiToken) {
    const url = 'https://api.webscraper.io/api/v1/';
    return { dataApi: { kind: 'webscraper', url, description: `Web Scraper Cloud jobs are imported from ${url} (the real API) with WEBSCRAPER_API_TOKEN` }, baseUrl: url, apiToken };
  }
  const mockToken = randomBytes(24).toString('base64url');
  const mock = await webScraperApiMock({
    token: mockToken,
    rateLimit: false,
    jobFor: (id) => ({
      rows: { count: DEMO_MOCK_ROWS, row: (i) => ({ title: `Item ${i + 1} of job ${id}`, url: `https://example.com/items/${i + 1}`, price: (i + 1) * 10 }) },
    }),
  });
  return {
    dataApi: {
      kind: 'mock',
      url: mock.apiUrl,
      description:
        `Web Scraper Cloud jobs are imported from the built-in mock at ${mock.apiUrl} (${DEMO_MOCK_ROWS} made-up rows for any job id; ` +
        'set WEBSCRAPER_API_TOKEN for the real API, WEBSCRAPER_API_URL for your own)',
    },
    baseUrl: mock.apiUrl,
    apiToken: mockToken,
    mock,
  };
}
