import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BodyType, EventSchemas, Provider, ProviderAliases, RequestView, Verifier } from '../types.ts';

/** The envelope used when a provider defines none: any JSON object. */
export const anyObject = z.looseObject({});

/** Input of a provider's `dedupeId`, typed by its schemas. */
export interface TypedDedupeInput<P> {
  /** The event type. */
  readonly type: string;
  /** The validated payload. */
  readonly payload: P;
  /** The raw body bytes. */
  readonly rawBody: Buffer;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
}

/** What {@link defineProvider} takes. */
export interface ProviderDefinition<E extends EventSchemas, U extends z.ZodType, A extends ProviderAliases> {
  /** A short name, e.g. `firecrawl`: the `provider` of every event. */
  name: string;
  /** How a request is authenticated, e.g. `hmacSignature(...)` or `secretToken(...)`. */
  verify: Verifier;
  /** One zod schema per known event type. */
  events: E;
  /**
   * The schema for event types not in `events`; such events are accepted and reach `onAny`.
   * @default any JSON object
   */
  envelope?: U;
  /** The body property holding the event type, or a function reading it from the decoded body. */
  eventType: string | ((body: unknown, request: RequestView) => string | undefined);
  /**
   * The body encodings the sender uses; the first is assumed when a request has no `Content-Type`.
   * `'form'` takes `application/x-www-form-urlencoded` and `multipart/form-data` (fields only).
   * @default ['json']
   */
  bodyTypes?: readonly BodyType[];
  /**
   * The delivery's dedupe id, the same for every retry of one notification.
   * @default the SHA-256 of the raw body (also used when this answers `undefined` or '')
   */
  dedupeId?: (input: TypedDedupeInput<z.output<E[keyof E]> | z.output<U>>) => string | undefined;
  /** Extra names a handler can subscribe with, each standing for several event types. */
  aliases?: A;
  /**
   * How long dedupe ids are remembered unless the receiver sets `dedupe.ttlMs`.
   * @default the receiver's default, 48 hours
   */
  dedupeTtlMs?: number;
  /**
   * `false` when the raw body holds a secret that your schemas strip: a durable store then keeps
   * the validated payload instead of the bytes as received (see `ReceivedBody`).
   * @default true
   */
  keepRawBody?: boolean;
}

/**
 * Defines a provider: a sender of webhooks, how to authenticate its requests, decode and validate
 * its bodies, read the event type, and compute the dedupe id. Handler payload types are inferred
 * from the zod schemas in `events`.
 *
 * @example
 * ```ts
 * const acme = defineProvider({
 *   name: 'acme',
 *   verify: hmacSignature({ secret, header: 'x-acme-signature', prefix: 'sha256=' }),
 *   eventType: 'event',
 *   events: {
 *     'job.done': z.object({ event: z.literal('job.done'), jobId: z.string(), rows: z.number() }),
 *   },
 *   dedupeId: ({ payload }) => payload.deliveryId,
 * });
 * ```
 * @throws {TypeError} when a required field is missing or of the wrong kind.
 */
export function defineProvider<
  const E extends EventSchemas,
  U extends z.ZodType = typeof anyObject,
  // biome-ignore lint: `{}` is the precise "no aliases" type here.
  const A extends ProviderAliases = {},
>(definition: ProviderDefinition<E, U, A>): Provider<E, U, A> {
  const { name, verify, events, eventType } = definition;
  if (typeof name !== 'string' || name === '') throw new TypeError(`Expected \`name\` to be a non-empty string, got ${typeof name}`);
  if (typeof verify !== 'function') {
    throw new TypeError(`Expected \`verify\` to be an authentication strategy function, got ${typeof verify}`);
  }
  if (typeof events !== 'object' || events === null) throw new TypeError(`Expected \`events\` to be an object of zod schemas, got ${typeof events}`);
  for (const [type, schema] of Object.entries(events)) {
    if (typeof (schema as { safeParse?: unknown })?.safeParse !== 'function') {
      throw new TypeError(`Expected \`events["${type}"]\` to be a zod schema, got ${typeof schema}`);
    }
  }
  const bodyTypes = definition.bodyTypes ?? ['json'];
  if (bodyTypes.length === 0 || bodyTypes.some((t) => t !== 'json' && t !== 'form')) {
    throw new TypeError(`Expected \`bodyTypes\` to list 'json' and/or 'form', got ${JSON.stringify(bodyTypes)}`);
  }
  const readType = typeof eventType === 'function' ? eventType : typeof eventType === 'string' ? propertyReader(eventType) : undefined;
  if (readType === undefined) throw new TypeError(`Expected \`eventType\` to be a property name or a function, got ${typeof eventType}`);
  const { dedupeTtlMs } = definition;
  if (dedupeTtlMs !== undefined && (!Number.isInteger(dedupeTtlMs) || dedupeTtlMs < 1)) {
    throw new TypeError(`Expected \`dedupeTtlMs\` to be a positive integer, got ${String(dedupeTtlMs)}`);
  }
  const customId = definition.dedupeId as ((input: TypedDedupeInput<unknown>) => string | undefined) | undefined;

  return {
    name,
    verify,
    events,
    envelope: (definition.envelope ?? anyObject) as U,
    bodyTypes,
    eventType: readType,
    dedupeId: (input) => customId?.(input) || bodyHash(input.rawBody),
    aliases: (definition.aliases ?? {}) as A,
    ...(dedupeTtlMs === undefined ? {} : { dedupeTtlMs }),
    ...(definition.keepRawBody === false ? { keepRawBody: false } : {}),
  };
}

function propertyReader(key: string): (body: unknown) => string | undefined {
  return (body) => {
    if (typeof body !== 'object' || body === null) return undefined;
    const value = (body as Record<string, unknown>)[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
}

/** The fallback dedupe id: a hash of the exact bytes, so an identical retry is recognised. */
export function bodyHash(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('base64url')}`;
}
