import { defineProvider } from '../define-provider.ts';
import { tokenVerifier, type TokenOptions } from '../shared/token.ts';
import { TEMPLATE_TOKEN_LOCATION } from '../template/index.ts';
import { hmacSignature } from '../../verify/hmac-signature.ts';
import type { Provider, Verifier } from '../../types.ts';
import { firecrawlAliases, firecrawlEnvelope, firecrawlEvents } from './schema.ts';
import { requireOptions } from '../../check-options.ts';

export type {
  FirecrawlDocument,
  FirecrawlEventType,
  FirecrawlMeaningfulChange,
  FirecrawlMonitorCheck,
  FirecrawlMonitorPage,
  FirecrawlPayload,
} from './schema.ts';

/**
 * Options of {@link firecrawl}: a webhook `secret` (signed deliveries), a `token` (unsigned
 * deliveries, from a team without a webhook secret), or both, in which case both must match.
 */
export interface FirecrawlOptions extends TokenOptions {
  /**
   * Your team's webhook secret (Firecrawl dashboard → Settings → Advanced), used as a UTF-8 HMAC
   * key: every delivery must carry a valid `X-Firecrawl-Signature`. Firecrawl signs only when the
   * team has a secret; without one, authenticate with `token` instead.
   * @example
   * ```ts
   * firecrawl({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET })
   * ```
   */
  secret?: string;
  /** Several secrets, any of which may have signed a delivery: set both while you rotate. */
  secrets?: readonly string[];
  /**
   * A secret token you put in the webhook URL (`https://example.com/webhooks/firecrawl/<token>`),
   * for a team without a webhook secret, whose deliveries are unsigned. Read from the route
   * parameter `:token`, `?token=` or `Authorization: Bearer <token>` (a header set through the
   * webhook's `headers`); `tokenFrom` narrows that. With `secret` too, both must match.
   * @example
   * ```ts
   * firecrawl({ token: process.env.FIRECRAWL_WEBHOOK_TOKEN }) // app.all('/webhooks/firecrawl/:token', ...)
   * ```
   */
  token?: string;
}

/** The provider {@link firecrawl} returns: handlers are typed per Firecrawl event type. */
export type FirecrawlProvider = Provider<typeof firecrawlEvents, typeof firecrawlEnvelope, typeof firecrawlAliases>;

/**
 * Receives Firecrawl webhooks (crawl, batch scrape, extract, agent, monitor and scheduled jobs).
 *
 * With `secret`, each delivery is authenticated by `X-Firecrawl-Signature: sha256=<hex>`, an
 * HMAC-SHA256 of the raw body with your team's webhook secret, compared in constant time
 * (https://docs.firecrawl.dev/webhooks/security). A team without a webhook secret gets unsigned
 * deliveries: authenticate those with a secret `token` in the webhook URL (or an `Authorization:
 * Bearer` header set through the webhook's `headers`), checked as for Apify. Given both, a delivery
 * must carry the signature and the token: naming both never weakens the check to the weaker one.
 *
 * Firecrawl sends no timestamp, so replays are caught by deduplication on the body's `webhookId`,
 * which its retries reuse; a delivery without one is deduplicated by a hash of its bytes. Handlers
 * can subscribe by full type (`crawl.page`), namespace (`crawl.*`) or Firecrawl's short names
 * (`page`, `completed`, `failed`, ...).
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
 *
 * // A team without a webhook secret: webhook URL https://example.com/webhooks/firecrawl/<token>
 * firecrawl({ token: process.env.FIRECRAWL_WEBHOOK_TOKEN }); // app.all('/webhooks/firecrawl/:token', ...)
 * ```
 * @throws {TypeError} when neither a secret nor a token is given, or one given is empty or not a string.
 */
export function firecrawl(options: FirecrawlOptions): FirecrawlProvider {
  requireOptions(options, 'a `secret` or a `token`');
  const signed = options.secret !== undefined || options.secrets !== undefined;
  const tokened = options.token !== undefined || options.tokens !== undefined;
  if (!signed && !tokened) {
    throw new TypeError(
      'Expected `secret` (your team\'s webhook secret, for signed deliveries) or `token` (a secret token in the webhook URL, for a team without a webhook secret), got neither',
    );
  }
  if (!tokened && options.tokenFrom !== undefined) {
    throw new TypeError('Expected a `token` (or `tokens`) with `tokenFrom`, got none');
  }
  const signature = signed
    ? hmacSignature({ secret: options.secret, secrets: options.secrets, header: 'x-firecrawl-signature', prefix: 'sha256=', encoding: 'hex' })
    : undefined;
  const token = tokened ? tokenVerifier(options, TEMPLATE_TOKEN_LOCATION) : undefined;
  return defineProvider({
    name: 'firecrawl',
    verify: signature && token ? both(signature, token) : (signature ?? token)!,
    eventType: 'type',
    events: firecrawlEvents,
    envelope: firecrawlEnvelope,
    aliases: firecrawlAliases,
    // Newer senders repeat the id in `X-Firecrawl-Webhook-Id`; the body stays authoritative.
    dedupeId: ({ payload, header }) => payload.webhookId ?? header('x-firecrawl-webhook-id'),
  });
}

/** Both checks must pass. Both always run, so the time taken does not tell which one failed. */
function both(first: Verifier, second: Verifier): Verifier {
  return async function verifySignatureAndToken(ctx) {
    const [a, b] = await Promise.all([first(ctx), second(ctx)]);
    return a && b;
  };
}
