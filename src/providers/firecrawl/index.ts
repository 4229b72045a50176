import { defineProvider } from '../define-provider.ts';
import { hmacSignature } from '../../verify/hmac-signature.ts';
import type { Provider } from '../../types.ts';
import { firecrawlAliases, firecrawlEnvelope, firecrawlEvents } from './schema.ts';

export type {
  FirecrawlDocument,
  FirecrawlEventType,
  FirecrawlMonitorCheck,
  FirecrawlMonitorPage,
  FirecrawlPayload,
} from './schema.ts';

/** Options of {@link firecrawl}. */
export interface FirecrawlOptions {
  /**
   * Your account's webhook secret (Firecrawl dashboard → Settings → Advanced), used as a UTF-8
   * HMAC key. One secret signs every webhook of the account.
   */
  secret?: string;
  /** Several secrets, any of which may have signed a delivery: set both while you rotate. */
  secrets?: readonly string[];
}

/** The provider {@link firecrawl} returns: handlers are typed per Firecrawl event type. */
export type FirecrawlProvider = Provider<typeof firecrawlEvents, typeof firecrawlEnvelope, typeof firecrawlAliases>;

/**
 * Receives Firecrawl webhooks (crawl, batch scrape, extract, agent and monitor jobs).
 *
 * Each delivery is authenticated by `X-Firecrawl-Signature: sha256=<hex>`, an HMAC-SHA256 of the
 * raw body with your account's webhook secret, compared in constant time
 * (https://docs.firecrawl.dev/webhooks/security). Firecrawl sends no timestamp, so replays are
 * caught by deduplication on the body's `webhookId`, which its retries reuse; a delivery without
 * one is deduplicated by a hash of its bytes. Handlers can subscribe by full type (`crawl.page`),
 * namespace (`crawl.*`) or Firecrawl's short names (`page`, `completed`, `failed`, ...).
 *
 * Firecrawl waits 10 s for a 2xx (30 s for v0 jobs) and retries after 1, 5 and 15 minutes.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider: firecrawl({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET }) });
 * hooks.on('crawl.page', async ({ payload }) => {
 *   for (const page of payload.data) await save(page.metadata?.sourceURL, page.markdown);
 * });
 * hooks.on('failed', ({ payload }) => alert(`${payload.type} ${payload.id}: ${payload.error}`));
 * app.all('/webhooks/firecrawl', hooks.middleware());
 * ```
 * @throws {TypeError} when neither `secret` nor `secrets` is a non-empty string.
 */
export function firecrawl(options: FirecrawlOptions): FirecrawlProvider {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected options with a \`secret\`, got ${options === null ? 'null' : typeof options}`);
  }
  return defineProvider({
    name: 'firecrawl',
    verify: hmacSignature({
      secret: options.secret,
      secrets: options.secrets,
      header: 'x-firecrawl-signature',
      prefix: 'sha256=',
      encoding: 'hex',
    }),
    eventType: 'type',
    events: firecrawlEvents,
    envelope: firecrawlEnvelope,
    aliases: firecrawlAliases,
    // Newer senders repeat the id in `X-Firecrawl-Webhook-Id`; the body stays authoritative.
    dedupeId: ({ payload, header }) => payload.webhookId ?? header('x-firecrawl-webhook-id'),
  });
}
