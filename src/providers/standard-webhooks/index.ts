import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { defineProvider } from '../define-provider.ts';
import { secretList } from '../../verify/secrets.ts';
import { bytesEqual } from '../../verify/timing-safe-equal.ts';
import type { Provider, Verifier } from '../../types.ts';
import { standardWebhookSchema, type StandardWebhookSchema } from './schema.ts';
import { requireOptions } from '../../check-options.ts';

export type { StandardWebhookPayload, StandardWebhookSchema } from './schema.ts';

// Standard Webhooks, symmetric scheme `v1` (spec v1.0.0, "Verifying webhooks"): the signature is
// base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), where the key is the base64-decoded
// secret after its `whsec_` prefix. Svix sends the same scheme under `svix-*` header names.

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Decodes `whsec_<base64>` (or bare base64) secrets into HMAC keys; bytes are used as they are. */
export function decodeSecrets(secret: string | Uint8Array | undefined, secrets: readonly (string | Uint8Array)[] | undefined): Buffer[] {
  return secretList('secret', secret, secrets).map((value) => {
    if (typeof value !== 'string') return Buffer.from(value);
    const base64 = value.startsWith('whsec_') ? value.slice('whsec_'.length) : value;
    const key = BASE64.test(base64) ? Buffer.from(base64, 'base64') : Buffer.alloc(0);
    // The message names the expected form, never the value: it is a secret.
    if (key.length === 0) throw new TypeError('Expected `secret` to be a base64 secret such as `whsec_...`, got a value that is not base64');
    return key;
  });
}

/** The `v1,<base64>` signature of one delivery, as a sender computes it. */
export function standardSignature(key: Uint8Array, id: string, timestamp: string, body: Uint8Array | string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/** Reads a header under its `svix-` name first, then its `webhook-` name, as the Svix libraries do. */
function either(header: (name: string) => string | undefined, name: string): string | undefined {
  return header(`svix-${name}`) ?? header(`webhook-${name}`);
}

/** The delivery's `webhook-id` (or `svix-id`): stable across retries, so the dedupe id. */
export function messageId(header: (name: string) => string | undefined): string | undefined {
  return either(header, 'id');
}

/**
 * The Standard Webhooks verifier: requires the three headers, refuses a timestamp more than
 * `toleranceSeconds` from now (before any HMAC, either way, as the reference libraries do), and
 * accepts the request when any `v1,` entry matches any key. Other versions (`v1a`) are ignored.
 */
export function standardWebhooksVerifier(keys: readonly Buffer[], toleranceSeconds: number, now: () => number = Date.now): Verifier {
  return function verifyStandardWebhook(ctx) {
    const id = either(ctx.header, 'id');
    const timestamp = either(ctx.header, 'timestamp');
    const signatures = either(ctx.header, 'signature');
    if (!id || !timestamp || !signatures || !/^\d{1,12}$/.test(timestamp)) return false;
    if (Math.abs(now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
    const expected = keys.map((key) => createHmac('sha256', key).update(`${id}.${timestamp}.`).update(ctx.rawBody).digest());
    let valid = false;
    for (const entry of signatures.split(' ')) {
      const comma = entry.indexOf(',');
      if (comma === -1 || entry.slice(0, comma) !== 'v1') continue;
      const given = Buffer.from(entry.slice(comma + 1), 'base64');
      // No early exit: every entry and key is compared, so timing does not tell which matched.
      for (const mac of expected) if (bytesEqual(mac, given)) valid = true;
    }
    return valid;
  };
}

/** Options of {@link standardWebhooks}. */
export interface StandardWebhooksOptions {
  /** The endpoint's signing secret, `whsec_<base64>` (the prefix is optional), or the key bytes. */
  secret?: string | Uint8Array;
  /** Several secrets, any of which may have signed a delivery: for rotation. */
  secrets?: readonly (string | Uint8Array)[];
  /**
   * How far `webhook-timestamp` may be from now, either way, in seconds. `Infinity` turns the
   * check off (replaying recorded deliveries only: it is what stops replays).
   * @default 300 (5 minutes, as the reference libraries)
   */
  toleranceSeconds?: number;
  /**
   * The provider's name, the `provider` of every event: name the sender, e.g. `'svix'`.
   * @default 'standard-webhooks'
   */
  name?: string;
}

/** Options of {@link standardWebhooks} with a schema of `data` per event type. */
export interface StandardWebhooksEventsOptions<E extends Record<string, z.ZodType>, D extends z.ZodType> extends StandardWebhooksOptions {
  /** The schema of `data` for each event type you handle, e.g. `{ 'invoice.paid': z.object({ id: z.string() }) }`. */
  events: E;
  /**
   * The schema of `data` for other event types (they reach `onAny`).
   * @default z.unknown()
   */
  data?: D;
}

/** Options of {@link standardWebhooks} with one schema of `data` for every event type. */
export interface StandardWebhooksDataOptions<D extends z.ZodType> extends StandardWebhooksOptions {
  /**
   * The schema of `data`, whatever the event type.
   * @default z.unknown()
   */
  data?: D;
}

type NoAliases = Record<never, never>;

/** The provider {@link standardWebhooks} returns with `events`: handlers typed per event type. */
export type StandardWebhooksProvider<E extends Record<string, z.ZodType>, D extends z.ZodType = z.ZodUnknown> = Provider<
  { [K in keyof E & string]: StandardWebhookSchema<z.ZodLiteral<K>, E[K]> },
  StandardWebhookSchema<z.ZodString, D>,
  NoAliases
>;

/** The provider {@link standardWebhooks} returns without `events`: any event type, `data` typed by `D`. */
export type StandardWebhooksAnyProvider<D extends z.ZodType = z.ZodUnknown> = Provider<
  Record<string, StandardWebhookSchema<z.ZodString, D>>,
  StandardWebhookSchema<z.ZodString, D>,
  NoAliases
>;

/**
 * Receives webhooks signed with the Standard Webhooks scheme (https://www.standardwebhooks.com),
 * Svix's included: headers `webhook-id`, `webhook-timestamp` and `webhook-signature` (or
 * `svix-*`), and a body `{ type, timestamp, data }` whose `data` your zod schemas type.
 *
 * A delivery is refused unless its timestamp is within `toleranceSeconds` of now and one of the
 * space-separated `v1,<base64>` signatures is the HMAC-SHA256 of `${id}.${timestamp}.${body}` with
 * one of the secrets. Deliveries are deduplicated by `webhook-id`, which the sender reuses on retries.
 *
 * @example
 * ```ts
 * const provider = standardWebhooks({
 *   secret: process.env.STANDARD_WEBHOOK_SECRET, // whsec_...
 *   events: { 'crawl.page': z.object({ url: z.string(), markdown: z.string() }) },
 * });
 * const hooks = createReceiver({ provider });
 * hooks.on('crawl.page', ({ payload }) => save(payload.data.url, payload.data.markdown));
 * app.all('/webhooks/standard', hooks.middleware());
 * ```
 * @throws {TypeError} when no secret is given, a secret is not base64, or an option is invalid.
 */
export function standardWebhooks<const E extends Record<string, z.ZodType>, D extends z.ZodType = z.ZodUnknown>(
  options: StandardWebhooksEventsOptions<E, D>,
): StandardWebhooksProvider<E, D>;
export function standardWebhooks<D extends z.ZodType = z.ZodUnknown>(options: StandardWebhooksDataOptions<D>): StandardWebhooksAnyProvider<D>;
export function standardWebhooks(
  options: StandardWebhooksEventsOptions<Record<string, z.ZodType>, z.ZodType> | StandardWebhooksDataOptions<z.ZodType>,
): StandardWebhooksProvider<Record<string, z.ZodType>, z.ZodType> | StandardWebhooksAnyProvider<z.ZodType> {
  requireOptions(options, 'a `secret`');
  const keys = decodeSecrets(options.secret, options.secrets);
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  if (typeof toleranceSeconds !== 'number' || Number.isNaN(toleranceSeconds) || toleranceSeconds < 0) {
    throw new TypeError(`Expected \`toleranceSeconds\` to be a non-negative number of seconds, got ${String(toleranceSeconds)}`);
  }
  const data = schemaOption('data', options.data) ?? z.unknown();
  const perType = 'events' in options ? options.events : undefined;
  if (perType !== undefined && (typeof perType !== 'object' || perType === null)) {
    throw new TypeError(`Expected \`events\` to be an object of zod schemas, got ${perType === null ? 'null' : typeof perType}`);
  }
  const events: Record<string, z.ZodType> = {};
  for (const [type, schema] of Object.entries(perType ?? {})) {
    events[type] = standardWebhookSchema(z.literal(type), schemaOption(`events["${type}"]`, schema)!);
  }
  return defineProvider({
    name: options.name ?? 'standard-webhooks',
    verify: standardWebhooksVerifier(keys, toleranceSeconds),
    eventType: 'type',
    events,
    envelope: standardWebhookSchema(z.string(), data),
    dedupeId: ({ header }) => messageId(header),
  }) as StandardWebhooksAnyProvider<z.ZodType>;
}

function schemaOption(name: string, schema: unknown): z.ZodType | undefined {
  if (schema === undefined) return undefined;
  if (typeof (schema as { safeParse?: unknown } | null)?.safeParse !== 'function') {
    throw new TypeError(`Expected \`${name}\` to be a zod schema, got ${schema === null ? 'null' : typeof schema}`);
  }
  return schema as z.ZodType;
}
