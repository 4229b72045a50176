// Standard Webhooks' test builder and signer, exported by `scrapehook/testing` (never by the root
// entry), and the retry schedules of the spec and of Svix.
import { randomBytes } from 'node:crypto';
import { bytesOf, type DeliveryOptions, type TestDelivery } from '../../testing/delivery.ts';
import { required, type ProviderKit } from '../../testing/kit.ts';
import { decodeSecrets, standardSignature } from './index.ts';

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

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Standard Webhooks' builder and the spec's and Svix's retry schedules, for `scrapehook send`. */
export const standardWebhooksKit: ProviderKit = {
  name: 'standard-webhooks',
  aliases: ['standard'],
  samples: {},
  defaultType: 'test.event',
  anyType: true,
  credentials: 'secret',
  env: { secret: 'STANDARD_WEBHOOK_SECRET' },
  build: (input) =>
    standardWebhookDelivery({ secret: required('standard-webhooks', 'secret', input.secret), type: input.type, path: input.path, body: input.body }),
  // A retry carries the same id and body with the timestamp of its own attempt, signed anew.
  reattempt: (delivery, input) =>
    standardWebhookDelivery({
      secret: required('standard-webhooks', 'secret', input.secret),
      id: delivery.headers['webhook-id'],
      body: delivery.body,
      path: delivery.path,
    }),
  senders: {
    standard: {
      label: 'Standard Webhooks',
      note: "the spec's example schedule; its timeout is a 15-30 s suggestion",
      timeoutMs: 15_000,
      retryDelaysMs: [5_000, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR],
      source:
        "The Standard Webhooks spec's example schedule (immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), without its jitter. " +
        'The spec suggests a 15-30 s timeout: 15 s is taken. Senders may differ; 410 (disable) and Retry-After are not reproduced.',
    },
    svix: {
      label: 'Svix',
      note: "Svix's docs, without jitter",
      timeoutMs: 15_000,
      retryDelaysMs: [5_000, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR],
      source: "Svix's docs: a 15 s response window; retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, without the jitter Svix adds.",
    },
  },
};
