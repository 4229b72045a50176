import type { z } from 'zod';
import type { WebhookError } from './errors.ts';
import type { ImportState } from './import/types.ts';

/**
 * How a provider's bodies are encoded on the wire. `'form'` is an HTML form: sent as
 * `application/x-www-form-urlencoded` or as `multipart/form-data` (fields only).
 */
export type BodyType = 'json' | 'form';

/**
 * How a body kept as received is encoded: a {@link BodyType}, or for a `multipart/form-data` form
 * its media type with the boundary, which decoding the bytes again needs.
 */
export type ReceivedBodyType = BodyType | `multipart/form-data; boundary=${string}`;

/** A read-only view of the incoming request, the same for every adapter. */
export interface RequestView {
  /** The HTTP method, upper case. */
  readonly method: string;
  /** Path and query as received. May hold a secret token: log it only through `redactUrl`. */
  readonly url: string;
  /** A request header by lower-case name; several values are joined with `, `. */
  header(name: string): string | undefined;
  /** A query-string parameter of `url` (the first one when repeated). */
  query(name: string): string | undefined;
  /** Route parameters: Express's `req.params`, or those of `nodeHandler({ path })`; empty for a bare `nodeHandler()`. */
  readonly params: Readonly<Record<string, string>>;
}

/** What an authentication strategy sees: the request and its raw body bytes (after inflation). */
export interface VerifyContext extends RequestView {
  /** The body exactly as received (inflated when `Content-Encoding` was set), before any parsing. */
  readonly rawBody: Buffer;
}

/**
 * An authentication strategy: resolves to `true` when the request is genuine. It must not throw
 * for a bad request (answer `false`); a throw is treated as a failed authentication and logged.
 */
export type Verifier = (ctx: VerifyContext) => boolean | Promise<boolean>;

/** Zod schemas keyed by event type. */
export type EventSchemas = Record<string, z.ZodType>;

/** Extra names a handler can subscribe with, each standing for several event types. */
export type ProviderAliases = Readonly<Record<string, readonly string[]>>;

/** The input of a provider's dedupe-id function. */
export interface DedupeInput {
  /** The event type. */
  readonly type: string;
  /** The validated payload. */
  readonly payload: unknown;
  /** The raw body bytes. */
  readonly rawBody: Buffer;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
}

/**
 * A sender of webhooks: how to authenticate, decode, type and deduplicate its deliveries.
 * Build one with {@link defineProvider}; the factories for the supported services return one.
 */
export interface Provider<
  E extends EventSchemas = EventSchemas,
  U extends z.ZodType = z.ZodType,
  A extends ProviderAliases = ProviderAliases,
> {
  /** A short name, e.g. `firecrawl`: it is the `provider` of every event and appears in logs. */
  readonly name: string;
  /** The body encodings the provider sends; the first is assumed when no `Content-Type` is sent. */
  readonly bodyTypes: readonly BodyType[];
  /** Authenticates a request on its raw bytes, before anything is parsed. */
  readonly verify: Verifier;
  /** One zod schema per known event type: handler payload types are inferred from these. */
  readonly events: E;
  /** The schema for event types not in `events`: such events are accepted and reach `onAny`. */
  readonly envelope: U;
  /** Reads the event type from the decoded (not yet validated) body. */
  readonly eventType: (body: unknown, request: RequestView) => string | undefined;
  /** The delivery's dedupe id: the same for a retry of the same notification. */
  readonly dedupeId: (input: DedupeInput) => string;
  /** Extra subscription names, e.g. `{ page: ['crawl.page', 'batch_scrape.page'] }`. */
  readonly aliases: A;
  /**
   * How long this provider's dedupe ids are remembered, when the receiver's `dedupe.ttlMs` is not
   * set: a sender that legitimately repeats a notification later (Web Scraper Cloud after
   * "Continue") needs a window shorter than the 48-hour default.
   */
  readonly dedupeTtlMs?: number;
  /**
   * `false` when the raw body holds a secret that the schemas strip (Thordata's `apiKey`): a durable
   * store then keeps the validated payload instead of the bytes as received.
   * @default true
   */
  readonly keepRawBody?: boolean;
}

/** Any provider; used as a constraint. */
export type AnyProvider = Provider<EventSchemas, z.ZodType, ProviderAliases>;

/** The normalized event every handler receives, whatever the provider. */
export interface WebhookEvent<T extends string = string, P = unknown> {
  /** The delivery's dedupe id: stable across the sender's retries of one notification. */
  readonly id: string;
  /** The event type, e.g. `crawl.page`, `ACTOR.RUN.SUCCEEDED`, `scrapingjob.finished`. */
  readonly type: T;
  /** The provider's name. */
  readonly provider: string;
  /** The body, validated by the event's zod schema and typed from it. */
  readonly payload: P;
  /** When the delivery was accepted. */
  readonly receivedAt: Date;
  /** 1 for the first run of the handlers, 2 for the first retry, and so on. */
  readonly attempt: number;
}

/** The event types a provider knows. */
export type EventName<P extends AnyProvider> = keyof P['events'] & string;

/** The event of one known type (a union when `N` is a union). */
export type KnownEvent<P extends AnyProvider, N extends EventName<P> = EventName<P>> = N extends unknown
  ? WebhookEvent<N, z.output<P['events'][N]>>
  : never;

/** An event whose type the provider does not know, validated by its envelope schema. */
export type UnknownEvent<P extends AnyProvider> = WebhookEvent<string, z.output<P['envelope']>>;

/** What `onAny` handlers receive. */
export type AnyEvent<P extends AnyProvider> = KnownEvent<P> | UnknownEvent<P>;

type Prefixes<N extends string> = N extends `${infer H}.${infer R}` ? H | `${H}.${Prefixes<R>}` : never;

/** What `on()` accepts: an event type, a dotted prefix wildcard such as `crawl.*`, or an alias. */
export type EventPattern<P extends AnyProvider> =
  | EventName<P>
  | `${Prefixes<EventName<P>>}.*`
  | (keyof P['aliases'] & string);

/** The event types a pattern matches. */
export type MatchedName<P extends AnyProvider, Pat extends string> = Pat extends EventName<P>
  ? Pat
  : Pat extends `${infer Pre}.*`
    ? Extract<EventName<P>, `${Pre}.${string}`>
    : Pat extends keyof P['aliases']
      ? Extract<P['aliases'][Pat][number], EventName<P>>
      : never;

/** The event a handler registered with a pattern receives. */
export type EventFor<P extends AnyProvider, Pat extends string> = KnownEvent<P, MatchedName<P, Pat>>;

/** Passed to every handler call. */
export interface HandlerContext {
  /** Aborted when the handler times out (`handlerTimeoutMs`) or when `close()` gives up waiting. */
  readonly signal: AbortSignal;
  /** The receiver's logger. */
  readonly logger: Logger;
  /**
   * Durable state for importers (`importRows` keeps its checkpoints here), kept by the receiver's
   * backend apart from other receivers': `memoryStore()` in memory, `sqliteStore()` in its file,
   * `bullmqQueue()` in Redis under the queue's prefix. `get`, `set` and `delete` address values of
   * this delivery only: its retries, its replays and its runs after a restart see them, and they
   * are deleted with the delivery (or at their TTL). `addToSet` and `members` address sets of the
   * whole receiver (e.g. ids gathered across the deliveries of one job), kept for their TTL.
   * With a custom store or queue that keeps no import state, it is kept in this process's memory.
   */
  readonly importState: ImportState;
}

/** A handler: may be async; a throw or rejection counts as a failed attempt and is retried. */
export type Handler<Ev> = (event: Ev, ctx: HandlerContext) => unknown;

/** Called once a delivery has failed for good, after its retries (it is then a dead letter). */
export type ErrorHandler<P extends AnyProvider> = (error: WebhookError, event: AnyEvent<P>) => unknown;

/** A request that failed schema validation, handed to `onInvalid` so it can be inspected or replayed. */
export interface InvalidDelivery {
  /** The provider's name. */
  readonly provider: string;
  /** The event type, when one could be read. */
  readonly type: string | undefined;
  /** The `payload.invalid` error with the failing paths. */
  readonly error: WebhookError;
  /** The decoded body that failed validation. */
  readonly body: unknown;
  /** The raw body bytes (they may hold secrets some senders embed: handle with care). */
  readonly rawBody: Buffer;
  /** All request headers, lower-case (signature headers included, so the request can be replayed). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A pino-compatible logging function. */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

/** A pino-compatible logger: pass `pino()` or `console`-like objects with these four methods. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** A delivery accepted by the receiver: the event without its attempt number. */
export interface Delivery {
  readonly id: string;
  readonly type: string;
  readonly provider: string;
  readonly payload: unknown;
  readonly receivedAt: Date;
  /**
   * The W3C trace context (`traceparent` header value) of the span that received it, when tracing
   * is on (`openTelemetryTracing()`): kept with the delivery by the queue backend, so that the span
   * of each handler attempt links to it, in whichever process it runs.
   */
  readonly traceparent?: string;
}

/**
 * A body exactly as received (inflated), with its encoding. A durable store may keep these bytes
 * instead of serializing the validated payload: writing them costs a copy, where serializing a
 * large payload costs more than parsing it did. The receiver decodes and validates them again
 * when it reads the delivery back.
 */
export interface ReceivedBody {
  readonly bytes: Buffer;
  /** Keep it as the string it is: a multipart form's type holds its boundary. */
  readonly type: ReceivedBodyType;
}

/** A delivery that failed for good. */
export interface DeadLetter {
  /** The delivery's id (its dedupe id). */
  readonly id: string;
  /** The event as the last attempt saw it. */
  readonly event: WebhookEvent;
  /** The last error. */
  readonly error: SerializedError;
  /** How many attempts were made. */
  readonly attempts: number;
}

/** An error as stored with a dead letter. */
export interface SerializedError {
  readonly type: string;
  readonly message: string;
  readonly stack?: string;
}

/** The progress of one import run by `importRows`, in `receiver.stats().imports`. */
export interface ImportStats {
  /** The provider the rows come from (`webscraper`, `apify`, ...). */
  readonly provider: string;
  /** The provider's job (dataset, task) id. */
  readonly jobId: string;
  /** The delivery whose handler imports it. */
  readonly deliveryId: string;
  /** `running`, `done` (every row written, `complete()` called), or `failed` (this attempt; it may be retried). */
  readonly state: 'running' | 'done' | 'failed';
  /** Rows written, this import's earlier attempts included (resumed from the checkpoint). */
  readonly rows: number;
  /** Bytes of the provider's responses consumed for them (approximate). */
  readonly bytes: number;
  /** Batches written. */
  readonly batches: number;
  /** When the latest attempt started. */
  readonly startedAt: Date;
  /** Milliseconds the latest attempt took so far, or took. */
  readonly ms: number;
}

/** Counters for health checks and metrics, from `receiver.stats()`. */
export interface ReceiverStats {
  /** Requests that reached the receiver. */
  received: number;
  /** Deliveries acknowledged with 202 and queued. */
  accepted: number;
  /** Deliveries acknowledged as duplicates and not dispatched again. */
  duplicates: number;
  /** Requests refused, by error type (`unauthorized`, `payload.invalid`, `queue.full`, ...). */
  rejected: Partial<Record<string, number>>;
  /**
   * Deliveries waiting to run (including those waiting for a retry): in this process (the
   * in-process queue re-queues at start what the store kept unfinished), or in Redis with BullMQ.
   */
  queued: number;
  /** Deliveries whose handlers are running. */
  running: number;
  /** Deliveries whose handlers all succeeded. */
  succeeded: number;
  /** Failed attempts that were scheduled again. */
  retried: number;
  /**
   * This receiver's dead letters kept by its store or Redis (not reset by a restart; down when one
   * is replayed successfully, also by `scrapehook replay`). With a custom queue without
   * `deadCount()`, the deliveries that failed for good since this receiver started.
   */
  dead: number;
  /** The latest imports run by `importRows` handlers in this process (at most 100), oldest first. */
  imports: ImportStats[];
}
