/**
 * Test helpers: build deliveries exactly as each sender puts them on the wire (signed or carrying
 * a token), send them to your app over a real ephemeral HTTP server, or run a receiver's handlers
 * on an event directly. No network leaves the machine.
 *
 * @example
 * ```ts
 * import { firecrawlDelivery, sendDelivery, runEvent } from 'scrapehook/testing';
 *
 * const res = await sendDelivery(app, firecrawlDelivery({ secret, type: 'crawl.page' }));
 * expect(res.status).toBe(202);
 * await hooks.onIdle();
 *
 * await runEvent(hooks, 'crawl.page'); // the handlers on a realistic crawl.page, no HTTP
 * ```
 * @module
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import type { ApifyEventType } from '../providers/apify/schema.ts';
import type { FirecrawlEventType } from '../providers/firecrawl/schema.ts';
import { decodeSecrets, standardSignature } from '../providers/standard-webhooks/index.ts';
import type { ThordataEventType } from '../providers/thordata/schema.ts';
import type { WebScraperEventType } from '../providers/web-scraper/schema.ts';
import type { Receiver } from '../receiver.ts';
import type { AnyProvider, EventName } from '../types.ts';
import { apifySamples, firecrawlSamples, thordataSamples, webScraperSamples } from './samples.ts';

export { apifySamples, firecrawlSamples, thordataSamples, webScraperSamples } from './samples.ts';

/** A request ready to send: what the sender would put on the wire. */
export interface TestDelivery {
  /** Always `POST`. */
  readonly method: 'POST';
  /** Path and query, e.g. `/webhooks/apify/<token>`. */
  readonly path: string;
  /** Lower-case header names: content type, signature or token, and the sender's own headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The exact body bytes (signatures are computed over these). */
  readonly body: Buffer;
}

/** A JSON body: an object (serialised with `JSON.stringify`), or exact text or bytes. */
export type TestBody = Record<string, unknown> | string | Uint8Array;

/** Options every builder takes. */
export interface DeliveryOptions {
  /** Where the delivery is posted. Each builder has a default, e.g. `/webhooks/firecrawl`. */
  path?: string;
  /** Headers to add or replace (lower-case names). */
  headers?: Record<string, string>;
  /** Fields merged over the sample body (shallowly), e.g. `{ metadata: { run: 'nightly' } }`. */
  payload?: Record<string, unknown>;
  /** The whole body instead of a sample (`type` and `payload` are then ignored). */
  body?: TestBody;
}

/**
 * How a token reaches the receiver: a route parameter (appended to the path), `?token=`, or
 * `Authorization: Bearer`. A route parameter needs a route that names it: `app.all('/webhooks/apify/:token', ...)`
 * or `nodeHandler({ path: '/webhooks/apify/:token' })`; a bare `nodeHandler()` has no route parameters.
 */
export type TokenPlacement = 'param' | 'query' | 'header';

function bytesOf(body: TestBody): Buffer {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body));
}

function tokenPlaced(path: string, token: string, placement: TokenPlacement, headers: Record<string, string>): string {
  if (placement === 'param') return `${path.replace(/\/$/, '')}/${encodeURIComponent(token)}`;
  if (placement === 'query') return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  headers.authorization = `Bearer ${token}`;
  return path;
}

/** Options of {@link signHmac}, matching those of `hmacSignature()`. */
export interface SignHmacOptions {
  /** @default 'sha256=' */
  prefix?: string;
  /** @default 'sha256' */
  algorithm?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /** @default 'hex' */
  encoding?: 'hex' | 'base64' | 'base64url';
}

/**
 * A signature header value for a sender that signs the raw body with an HMAC, as `hmacSignature()`
 * verifies it: for your own `defineProvider` senders.
 *
 * @example
 * ```ts
 * signHmac(body, secret) // 'sha256=5d6f…'
 * ```
 */
export function signHmac(body: string | Uint8Array, secret: string | Uint8Array, options: SignHmacOptions = {}): string {
  const mac = createHmac(options.algorithm ?? 'sha256', secret).update(body).digest(options.encoding ?? 'hex');
  return `${options.prefix ?? 'sha256='}${mac}`;
}

/** The `X-Firecrawl-Signature` value for a body: `sha256=` and the hex HMAC-SHA256 with the secret. */
export function signFirecrawl(body: string | Uint8Array, secret: string): string {
  return signHmac(body, secret);
}

/** Options of {@link firecrawlDelivery}: a `secret` to sign with, a `token` to place, or both. */
export type FirecrawlDeliveryOptions = FirecrawlDeliveryBase & ({ secret: string; token?: string } | { secret?: string; token: string });

/** The options of {@link firecrawlDelivery} other than its credentials. */
export interface FirecrawlDeliveryBase extends DeliveryOptions {
  /**
   * The event type of the sample body.
   * @default 'crawl.page'
   */
  type?: FirecrawlEventType;
  /**
   * Where the `token` goes, when one is given.
   * @default 'param'
   */
  tokenIn?: TokenPlacement;
}

/**
 * A Firecrawl delivery, from a realistic sample of `type` with a fresh `webhookId` (each call is a
 * new notification; send the same object twice to replay a retry). With `secret` it is signed
 * (`X-Firecrawl-Signature`); with `token` the token is placed where `tokenIn` says (a team without a
 * webhook secret sends unsigned deliveries to a URL holding a token); with both, both.
 *
 * @example
 * ```ts
 * firecrawlDelivery({ secret, type: 'crawl.failed', payload: { error: 'robots.txt' } })
 * firecrawlDelivery({ token, type: 'crawl.page' }) // unsigned, posted to /webhooks/firecrawl/<token>
 * ```
 * @throws {TypeError} when neither `secret` nor `token` is given.
 */
export function firecrawlDelivery(options: FirecrawlDeliveryOptions): TestDelivery {
  const { secret, token } = options as { secret?: string; token?: string };
  if (secret === undefined && token === undefined) throw new TypeError('Expected a `secret` to sign with or a `token` to place, got neither');
  const sample = firecrawlSamples[options.type ?? 'crawl.page'];
  const body = bytesOf(options.body ?? { ...sample, webhookId: randomUUID(), ...options.payload });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== undefined) headers['x-firecrawl-signature'] = signFirecrawl(body, secret);
  const base = options.path ?? '/webhooks/firecrawl';
  const path = token === undefined ? base : tokenPlaced(base, token, options.tokenIn ?? 'param', headers);
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Options of {@link apifyDelivery} and {@link thordataDelivery}. */
export interface TemplateDeliveryOptions<T extends string> extends DeliveryOptions {
  /** The secret token of your webhook URL (or headers template). */
  token: string;
  /** The event type of the sample body. */
  type?: T;
  /**
   * Where the token goes.
   * @default 'param'
   */
  tokenIn?: TokenPlacement;
}

/** A 17-character id in Apify's alphabet, like a webhook dispatch id. */
function apifyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(17)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/**
 * An Apify delivery from the default payload template, with the headers Apify sets (a fresh
 * `X-Apify-Webhook-Dispatch-Id` per call) and the token where `tokenIn` says.
 *
 * @example
 * ```ts
 * apifyDelivery({ token, type: 'ACTOR.RUN.FAILED', tokenIn: 'header' })
 * ```
 */
export function apifyDelivery(options: TemplateDeliveryOptions<ApifyEventType>): TestDelivery {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-apify-webhook': 'Apify',
    'x-apify-webhook-dispatch-id': apifyId(),
    'x-apify-request-origin': 'WEBHOOK',
  };
  const path = tokenPlaced(options.path ?? '/webhooks/apify', options.token, options.tokenIn ?? 'param', headers);
  const body = bytesOf(options.body ?? { ...apifySamples[options.type ?? 'ACTOR.RUN.SUCCEEDED'], ...options.payload });
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/**
 * A Thordata delivery from the documented payload template, with the headers Thordata sets (a
 * fresh `Webhook-Dispatch-Id` per call) and the token where `tokenIn` says.
 *
 * @example
 * ```ts
 * thordataDelivery({ token, type: 'ACTOR.RUN.SUCCEEDED', tokenIn: 'query' })
 * ```
 */
export function thordataDelivery(options: TemplateDeliveryOptions<ThordataEventType>): TestDelivery {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    webhook: 'Tasks',
    'webhook-dispatch-id': randomBytes(16).toString('hex'),
    'request-origin': 'WEBHOOK',
  };
  const path = tokenPlaced(options.path ?? '/webhooks/thordata', options.token, options.tokenIn ?? 'param', headers);
  const body = bytesOf(options.body ?? { ...thordataSamples[options.type ?? 'ACTOR.RUN.SUCCEEDED'], ...options.payload });
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Options of {@link webScraperDelivery}. */
export interface WebScraperDeliveryOptions extends Omit<DeliveryOptions, 'payload'> {
  /** The secret token of your notification URL. */
  token: string;
  /**
   * The event type of the sample fields.
   * @default 'scrapingjob.finished'
   */
  type?: WebScraperEventType;
  /** Fields merged over the sample, e.g. `{ scrapingjob_id: '99' }`. */
  payload?: Record<string, string>;
  /**
   * How the body is encoded: Web Scraper Cloud posts a form.
   * @default 'form'
   */
  as?: 'form' | 'json';
  /**
   * Where the token goes.
   * @default 'param'
   */
  tokenIn?: Exclude<TokenPlacement, 'header'>;
}

/**
 * A Web Scraper Cloud notification: a form-encoded POST of the job's fields, token in the URL.
 *
 * @example
 * ```ts
 * webScraperDelivery({ token, type: 'scrapingjob.failed', payload: { scrapingjob_id: '99' } })
 * ```
 */
export function webScraperDelivery(options: WebScraperDeliveryOptions): TestDelivery {
  const fields = { ...webScraperSamples[options.type ?? 'scrapingjob.finished'], ...options.payload };
  const json = options.as === 'json';
  const body = options.body !== undefined ? bytesOf(options.body) : Buffer.from(json ? JSON.stringify(fields) : new URLSearchParams(fields).toString());
  const headers: Record<string, string> = { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' };
  const path = tokenPlaced(options.path ?? '/webhooks/webscraper', options.token, options.tokenIn ?? 'param', headers);
  return { method: 'POST', path, headers: { ...headers, ...options.headers }, body };
}

/** Input of {@link signStandardWebhook}. */
export interface StandardWebhookSignInput {
  /** The `whsec_...` secret (or the key bytes). */
  secret: string | Uint8Array;
  /** The `webhook-id`. */
  id: string;
  /** The `webhook-timestamp`, in Unix seconds. */
  timestamp: number | string;
  /** The exact body. */
  body: string | Uint8Array;
}

/** The `webhook-signature` value (`v1,<base64>`) of one Standard Webhooks delivery. */
export function signStandardWebhook(input: StandardWebhookSignInput): string {
  const [key] = decodeSecrets(input.secret, undefined);
  return standardSignature(key!, input.id, String(input.timestamp), input.body);
}

/** Options of {@link standardWebhookDelivery}. */
export interface StandardWebhookDeliveryOptions extends Omit<DeliveryOptions, 'payload'> {
  /** The `whsec_...` secret the delivery is signed with. */
  secret: string | Uint8Array;
  /** The payload's `type`. */
  type?: string;
  /** The payload's `data`. */
  data?: unknown;
  /**
   * The `webhook-id`.
   * @default a fresh `msg_...` id
   */
  id?: string;
  /**
   * The `webhook-timestamp`, in Unix seconds.
   * @default now
   */
  timestamp?: number;
  /**
   * Send `svix-*` header names instead of `webhook-*`.
   * @default false
   */
  svix?: boolean;
}

/**
 * A signed Standard Webhooks delivery of `{ type, timestamp, data }` (or `body`).
 *
 * @example
 * ```ts
 * standardWebhookDelivery({ secret, type: 'crawl.page', data: { url: 'https://example.com', markdown: '# Hi' } })
 * ```
 */
export function standardWebhookDelivery(options: StandardWebhookDeliveryOptions): TestDelivery {
  const id = options.id ?? `msg_${randomBytes(12).toString('base64url')}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const body = bytesOf(
    options.body ?? { type: options.type ?? 'test.event', timestamp: new Date(timestamp * 1000).toISOString(), data: options.data ?? {} },
  );
  const prefix = options.svix ? 'svix' : 'webhook';
  return {
    method: 'POST',
    path: options.path ?? '/webhooks/standard',
    headers: {
      'content-type': 'application/json',
      [`${prefix}-id`]: id,
      [`${prefix}-timestamp`]: String(timestamp),
      [`${prefix}-signature`]: signStandardWebhook({ secret: options.secret, id, timestamp, body }),
      ...options.headers,
    },
    body,
  };
}

/** The answer to a delivery sent with {@link sendDelivery}. */
export interface TestResponse {
  /** The HTTP status. */
  readonly status: number;
  /** The response headers. */
  readonly headers: http.IncomingHttpHeaders;
  /** The response body as text. */
  readonly text: string;
  /** The response body parsed as JSON (`undefined` when it is not JSON). */
  readonly json: unknown;
}

/** Options of {@link sendDelivery}. */
export interface SendOptions {
  /**
   * Gives up after this long, as a sender does; the promise then rejects.
   * @default 10_000
   */
  timeoutMs?: number;
}

/**
 * Sends a delivery over real HTTP: to a request listener or an Express app (on an ephemeral port
 * of 127.0.0.1, closed afterwards), to a server, or to a base URL such as `http://127.0.0.1:3000`.
 * The bytes go out exactly as built, so signatures hold.
 *
 * @example
 * ```ts
 * const res = await sendDelivery(app, webScraperDelivery({ token }));
 * expect(res.status).toBe(202);
 * ```
 */
export async function sendDelivery(target: http.RequestListener | http.Server | string, delivery: TestDelivery, options: SendOptions = {}): Promise<TestResponse> {
  if (typeof target === 'string') return request(new URL(delivery.path, target), delivery, options.timeoutMs ?? 10_000);
  const server = target instanceof http.Server ? target : http.createServer(target);
  const started = !server.listening;
  if (started) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await request(new URL(delivery.path, `http://127.0.0.1:${port}`), delivery, options.timeoutMs ?? 10_000);
  } finally {
    if (started) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

function request(url: URL, delivery: TestDelivery, timeoutMs: number): Promise<TestResponse> {
  return new Promise<TestResponse>((resolve, reject) => {
    const headers = { ...delivery.headers, 'content-length': String(delivery.body.length) };
    const req = http.request(url, { method: delivery.method, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`No answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(delivery.body);
  });
}

const SAMPLES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  firecrawl: firecrawlSamples,
  apify: apifySamples,
  thordata: thordataSamples,
  webscraper: webScraperSamples,
};

/**
 * Runs a receiver's handlers on one event directly: no HTTP, no queue, no dedupe. The payload is
 * validated by the provider's schema first, as a delivery's would be. Without `payload`, the
 * realistic sample of the built-in provider is used. Rejects with the first handler error.
 *
 * @example
 * ```ts
 * await runEvent(hooks, 'scrapingjob.finished', { ...webScraperSamples['scrapingjob.finished'], scrapingjob_id: '7' });
 * expect(imported).toEqual([7]);
 * ```
 */
export function runEvent<P extends AnyProvider, N extends EventName<P>>(
  receiver: Receiver<P>,
  type: N,
  payload?: z.input<P['events'][N]>,
  options: { id?: string } = {},
): Promise<void> {
  const body = payload ?? SAMPLES[receiver.provider.name]?.[type];
  if (body === undefined) {
    throw new TypeError(`Expected a payload: there is no sample for ${JSON.stringify(type)} of provider ${JSON.stringify(receiver.provider.name)}`);
  }
  return receiver.receive({ type, payload: body, ...(options.id === undefined ? {} : { id: options.id }) });
}

// Local mocks of the providers' data APIs (see src/testing/mocks/).
export * from './mocks/index.ts';
