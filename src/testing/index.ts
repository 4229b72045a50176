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
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import type { Receiver } from '../receiver.ts';
import type { AnyProvider, EventName } from '../types.ts';
import type { TestDelivery } from './delivery.ts';
import { providerKits } from './kits.ts';

// Each provider's builder and samples live next to the provider (src/providers/<p>/testing.ts).
export { signHmac } from './delivery.ts';
export type { DeliveryOptions, SignHmacOptions, TemplateDeliveryOptions, TestBody, TestDelivery, TokenPlacement } from './delivery.ts';
export { firecrawlDelivery, firecrawlSamples, signFirecrawl } from '../providers/firecrawl/testing.ts';
export type { FirecrawlDeliveryBase, FirecrawlDeliveryOptions } from '../providers/firecrawl/testing.ts';
export { apifyDelivery, apifySamples } from '../providers/apify/testing.ts';
export { thordataDelivery, thordataSamples } from '../providers/thordata/testing.ts';
export { webScraperDelivery, webScraperSamples } from '../providers/web-scraper/testing.ts';
export type { WebScraperDeliveryOptions } from '../providers/web-scraper/testing.ts';
export { signStandardWebhook, standardWebhookDelivery } from '../providers/standard-webhooks/testing.ts';
export type { StandardWebhookDeliveryOptions, StandardWebhookSignInput } from '../providers/standard-webhooks/testing.ts';

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
  const samples = providerKits.find((kit) => kit.name === receiver.provider.name)?.samples;
  const body = payload ?? (samples !== undefined && Object.hasOwn(samples, type) ? samples[type] : undefined);
  if (body === undefined) {
    throw new TypeError(`Expected a payload: there is no sample for ${JSON.stringify(type)} of provider ${JSON.stringify(receiver.provider.name)}`);
  }
  return receiver.receive({ type, payload: body, ...(options.id === undefined ? {} : { id: options.id }) });
}

// Local mocks of the providers' data APIs (see src/testing/mocks/).
export * from './mocks/index.ts';
