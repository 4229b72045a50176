import type { IncomingMessage, ServerResponse } from 'node:http';
import bytes from './body/bytes.ts';
import { match, parse, type Token } from 'path-to-regexp';
import { PIPELINE, createPipeline, payloadInvalid, payloadSchema, type FetchContext, type IncomingRequest, type RouteMatcher, type WaitUntil } from './adapters/handle-request.ts';
import { ALREADY_PARSED_MESSAGE } from './body/read-body.ts';
import { decodeBody } from './body/decode-body.ts';
import { backoffDelay, type RetryOptions } from './dispatch/backoff.ts';
import { DEFAULT_DEDUPE_MAX, DEFAULT_DEDUPE_TTL_MS, type DedupeOptions } from './dispatch/dedupe.ts';
import { LocalQueue } from './dispatch/local-queue.ts';
import type { EnqueueResult, QueueRuntime, ReceiverQueue } from './dispatch/queue.ts';
import { WebhookError } from './errors.ts';
import { safeError, safeLogger, silentLogger } from './log.ts';
import { MemoryImportState } from './import/memory-state.ts';
import { ImportTracker, PROGRESS } from './import/progress.ts';
import type { ImportState } from './import/types.ts';
import { memoryStore } from './store/memory-store.ts';
import { Instruments, withTrace } from './telemetry/instruments.ts';
import type { Store } from './store/types.ts';
import type {
  AnyEvent,
  AnyProvider,
  DeadLetter,
  Delivery,
  ErrorHandler,
  EventFor,
  EventPattern,
  Handler,
  HandlerContext,
  InvalidDelivery,
  Logger,
  ReceiverStats,
  WebhookEvent,
} from './types.ts';
import { nonNegativeInteger, positiveInteger } from './check-options.ts';

/** Options of {@link createReceiver}. */
export interface ReceiverOptions<P extends AnyProvider> {
  /** The sender: `firecrawl(...)`, `apify(...)`, or your own `defineProvider(...)`. */
  provider: P;
  /**
   * This receiver's name: a store or a Redis shared by several receivers records each delivery
   * with it, and each receiver recovers, lists, replays and counts only its own (the CLI shows it
   * and filters by it with `--receiver`). With `bullmqQueue`, the default queue is
   * `scrapehook-<name>`. Two receivers of one provider sharing a store need a name each: a second
   * receiver with a name already using the store throws a `TypeError`.
   * @default the provider's name, e.g. `'firecrawl'`
   * @example name: 'apify-team-b'
   */
  name?: string;
  /**
   * How many deliveries run their handlers at once.
   * @default 10
   */
  concurrency?: number;
  /**
   * How many accepted deliveries may wait (queued or waiting for a retry) before new ones are
   * answered 503 with `Retry-After`, so the sender retries later instead of being dropped.
   * @default 10_000
   */
  maxQueued?: number;
  /**
   * How long one handler call may take before its `ctx.signal` is aborted and the attempt fails.
   * @default 60_000
   */
  handlerTimeoutMs?: number;
  /** Retries of a failed delivery, with exponential backoff and jitter, before it is a dead letter. */
  retry?: RetryOptions;
  /**
   * Deduplication by the provider's dedupe id, or `false` to dispatch every delivery.
   * @default { ttlMs: 48 hours, max: 100_000 }
   */
  dedupe?: DedupeOptions | false;
  /**
   * The largest body accepted (after inflation), in bytes or as a string such as `'10mb'`. A larger
   * body is answered 413; the rest of it is read and thrown away, up to twice this, so that a sender
   * still uploading gets the answer rather than a reset connection.
   * @default '10mb'
   */
  limit?: number | string;
  /**
   * How long a request's body may take to arrive, in milliseconds, before the request is answered
   * 408 (`body.timeout`), what was read is dropped and the connection is closed. Senders post small
   * bodies and give up after 10 to 30 s (Firecrawl and Web Scraper Cloud wait 10 s), so a body still
   * arriving after 30 s comes from a client that is stalled or trickling on purpose, and reading on
   * (Node's own bound is 300 s) would only hold a connection and memory. Raise it for large bodies
   * over slow links.
   * @default 30_000
   * @example bodyTimeoutMs: 10_000 // a sender that gives up after 10 s
   */
  bodyTimeoutMs?: number;
  /**
   * The `Retry-After` sent with a 503 (queue full, queue unavailable, or closing), in seconds.
   * @default 10
   */
  retryAfterSeconds?: number;
  /**
   * A pino-compatible logger.
   * @default silent
   */
  logger?: Logger;
  /**
   * Where accepted deliveries, their state, dedupe ids and dead letters are kept by the
   * in-process queue. `close()` closes it once the queue has drained.
   * @default memoryStore()
   */
  store?: Store;
  /**
   * Runs events with the same key one at a time, in arrival order (each waits until the one
   * before it succeeded or became a dead letter); events with different keys, or no key
   * (`undefined`), run in parallel.
   * @example orderBy: (event) => event.payload.id // a Firecrawl job's started, pages, completed in order
   */
  orderBy?: (event: AnyEvent<P>) => string | undefined;
  /**
   * Where deliveries wait and run. The default is an in-process queue (p-queue) over `store`.
   * @default an in-process queue
   */
  queue?: ReceiverQueue;
}

/** Options of {@link Receiver.close}. */
export interface CloseOptions {
  /**
   * How long to wait for running and queued work before aborting the handlers' signals.
   * @default 30_000
   */
  timeoutMs?: number;
}

/** An Express-compatible middleware (also usable with Connect-style routers). */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** A `node:http` request listener. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Options of {@link Receiver.nodeHandler}. */
export interface NodeHandlerOptions {
  /**
   * The path this listener receives at, with route parameters in Express 5's syntax
   * (path-to-regexp 8): `:name` for a segment, `{...}` around an optional part. The parameters
   * reach verifiers as `ctx.params`, decoded as Express's `req.params` are, so a provider reading
   * its token from the route parameter `:token` works as it does in Express. Matching ignores case,
   * a trailing slash and the query string, as Express does by default. A request for any other path
   * (or with a parameter that is not valid percent-encoding) is answered 404 `route.not.found`.
   * Wildcards (`*name`) are refused: a token is one segment.
   * @default every path is accepted, and there are no route parameters
   * @example
   * ```ts
   * http.createServer(hooks.nodeHandler({ path: '/webhooks/apify/:token' })).listen(3000);
   * ```
   */
  path?: string;
}

/** Options of {@link Receiver.fetchHandler}. */
export interface FetchHandlerOptions {
  /**
   * The path this handler receives at, with route parameters, as for
   * {@link NodeHandlerOptions.path}: for runtimes without a router (`Bun.serve`, `Deno.serve`)
   * whose sender puts a token in the path. A request for any other path is answered 404
   * `route.not.found`. Without it, route parameters are those passed as `context.params`.
   * @default every path is accepted; route parameters come from `context.params`
   * @example Bun.serve({ fetch: apifyHooks.fetchHandler({ path: '/webhooks/apify/:token' }) })
   */
  path?: string;
  /**
   * Where the platform keeps work running after the response, when it offers that as a function
   * rather than per request (`waitUntil` of `@vercel/functions`, Next.js's `after`). A
   * `context.waitUntil` given with a request is used instead. It is handed, for each delivery
   * answered 202, a promise that settles once the in-process queue has run it (succeeded or dead
   * letter); with a queue backend other than the in-process one it is not called.
   * @default none: the process is expected to keep running after the response
   * @example fetchHandler({ waitUntil: after }) // import { after } from 'next/server'
   */
  waitUntil?: WaitUntil;
}

/**
 * A web-standard fetch handler: takes a `Request` (and, optionally, route parameters and the
 * platform's `waitUntil`) and resolves to the `Response`; it never rejects.
 */
export type FetchHandler = (request: Request, context?: FetchContext) => Promise<Response>;

/** Removes the listener it was returned for. */
export type Unsubscribe = () => void;

/** A webhook receiver for one provider. Create it with {@link createReceiver}. */
export interface Receiver<P extends AnyProvider> {
  /** The provider this receiver accepts deliveries from. */
  readonly provider: P;
  /** This receiver's name (its `name` option, by default the provider's name). */
  readonly name: string;
  /**
   * Registers a handler for an event type, a dotted-prefix wildcard (`crawl.*`) or a provider
   * alias; the payload is typed from the provider's schema. Handlers run after the sender has its
   * 2xx, from the queue; a throw is retried.
   */
  on<const Pat extends EventPattern<P>>(pattern: Pat | readonly Pat[], handler: Handler<EventFor<P, Pat>>): Unsubscribe;
  /** Registers a handler for every accepted event, including types the provider does not know. */
  onAny(handler: Handler<AnyEvent<P>>): Unsubscribe;
  /** Called when a delivery failed for good, after its retries. A throwing listener is logged and ignored. */
  onError(handler: ErrorHandler<P>): Unsubscribe;
  /** Called for every request refused because its payload failed the schema, to inspect or replay it. */
  onInvalid(handler: (delivery: InvalidDelivery) => unknown): Unsubscribe;
  /** An Express middleware: `app.all('/webhooks/firecrawl', hooks.middleware())`. */
  middleware(): Middleware;
  /**
   * A `node:http` request listener: `http.createServer(hooks.nodeHandler())`. Give it a `path`
   * when the sender puts a token in the URL path: `nodeHandler({ path: '/webhooks/apify/:token' })`.
   * @throws {TypeError} when `path` is not a valid path pattern.
   */
  nodeHandler(options?: NodeHandlerOptions): NodeHandler;
  /**
   * A web-standard handler, `(request, context?) => Promise<Response>`, for Hono, Next.js route
   * handlers, `Bun.serve`, `Deno.serve` and other fetch runtimes. The same steps, status codes and
   * limits as `middleware()`; the body is read from `request.body` as a stream and inflated.
   * Route parameters come from `context.params` or the `path` option.
   * @throws {TypeError} when `path` is not a valid path pattern or `waitUntil` not a function.
   * @example
   * ```ts
   * app.post('/webhooks/apify/:token', (c) => hooks.fetchHandler()(c.req.raw, { params: c.req.param() })); // Hono
   * export const POST = hooks.fetchHandler(); // Next.js: app/api/webhooks/firecrawl/route.ts
   * ```
   */
  fetchHandler(options?: FetchHandlerOptions): FetchHandler;
  /**
   * Runs the handlers on one event directly, without HTTP or the queue (tests, replays from a file).
   * The payload is validated first; rejects with the handler's error if one fails.
   */
  receive(input: { type: string; payload: unknown; id?: string }): Promise<void>;
  /** The deliveries that failed for good, with their last error. */
  deadLetters(): Promise<DeadLetter[]>;
  /** Runs a dead letter again; it leaves the dead letters once it succeeds. */
  replay(id: string): Promise<void>;
  /**
   * Counters for health checks and metrics. `dead`, `queued` and `running` describe the deliveries
   * kept now (`dead` is read from the store, so it survives restarts); the others count events
   * since this receiver started.
   */
  stats(): ReceiverStats;
  /** Resolves when no delivery is queued, waiting for a retry, or running. */
  onIdle(): Promise<void>;
  /**
   * Stops accepting (new requests answer 503 with `Retry-After`) and drains running and queued
   * work, running waiting retries at once. After `timeoutMs` the handlers' signals are aborted.
   * Then the store is closed.
   */
  close(options?: CloseOptions): Promise<void>;
}

type AnyHandler = Handler<WebhookEvent>;

/** A handler call being watched for its timeout. */
interface HandlerCall {
  /** When it times out, on `performance.now()`'s clock. */
  readonly deadline: number;
  /** Aborts its signal and fails the call with `handler.timeout`. */
  expire(): void;
}

/**
 * Creates a receiver: mount its middleware, register handlers, and every delivery is
 * authenticated, validated, deduplicated and acknowledged before a queued handler runs it.
 *
 * @example
 * ```ts
 * const hooks = createReceiver({ provider: firecrawl({ secret }), concurrency: 4 });
 * hooks.on('crawl.page', async (event, ctx) => save(event.payload.data[0]?.markdown, ctx.signal));
 * app.all('/webhooks/firecrawl', hooks.middleware());
 * ```
 * @throws {TypeError} when an option is out of range.
 */
export function createReceiver<P extends AnyProvider>(options: ReceiverOptions<P>): Receiver<P> {
  const { provider } = options;
  if (typeof provider !== 'object' || provider === null || typeof provider.verify !== 'function') {
    throw new TypeError('Expected `provider` to be a provider (see defineProvider), got ' + typeof provider);
  }
  const concurrency = positiveInteger('concurrency', options.concurrency ?? 10);
  const maxQueued = positiveInteger('maxQueued', options.maxQueued ?? 10_000);
  const handlerTimeoutMs = positiveInteger('handlerTimeoutMs', options.handlerTimeoutMs ?? 60_000);
  const attempts = positiveInteger('retry.attempts', options.retry?.attempts ?? 5);
  const minDelayMs = nonNegativeInteger('retry.minDelayMs', options.retry?.minDelayMs ?? 1000);
  const maxDelayMs = nonNegativeInteger('retry.maxDelayMs', options.retry?.maxDelayMs ?? 60_000);
  const retryAfterSeconds = nonNegativeInteger('retryAfterSeconds', options.retryAfterSeconds ?? 10);
  const dedupeTtlMs = options.dedupe === false ? 0 : positiveInteger('dedupe.ttlMs', options.dedupe?.ttlMs ?? provider.dedupeTtlMs ?? DEFAULT_DEDUPE_TTL_MS);
  const dedupeMax = options.dedupe === false ? 0 : positiveInteger('dedupe.max', options.dedupe?.max ?? DEFAULT_DEDUPE_MAX);
  const limit = parseLimit(options.limit ?? '10mb');
  const bodyTimeoutMs = positiveInteger('bodyTimeoutMs', options.bodyTimeoutMs ?? 30_000);
  // Every error logged goes through a safe copy: Redis errors carry passwords and bodies.
  const logger = safeLogger(options.logger ?? silentLogger);
  const { orderBy } = options;
  if (orderBy !== undefined && typeof orderBy !== 'function') {
    throw new TypeError(`Expected \`orderBy\` to be a function, got ${typeof orderBy}`);
  }
  if (options.store !== undefined && options.queue !== undefined) {
    throw new TypeError('Expected either `store` or `queue`, got both: a queue backend keeps its own state');
  }
  const name = receiverName(options.name ?? provider.name, options.name === undefined);
  const queue = options.queue ?? new LocalQueue(storeFor(options.store ?? memoryStore({ maxIds: dedupeMax || undefined }), name));

  const handlers = new Map<string, Set<AnyHandler>>();
  const anyHandlers = new Set<AnyHandler>();
  const errorHandlers = new Set<ErrorHandler<P>>();
  const invalidHandlers = new Set<(delivery: InvalidDelivery) => unknown>();
  /** Handler lists per event type, rebuilt after any subscription changes. */
  const handlerCache = new Map<string, readonly AnyHandler[]>();
  const aliasesOf = new Map<string, string[]>();
  for (const [alias, types] of Object.entries(provider.aliases)) {
    for (const type of types) aliasesOf.set(type, [...(aliasesOf.get(type) ?? []), alias]);
  }
  const closeController = new AbortController();
  let closing: Promise<void> | undefined;
  let warnedAlreadyParsed = false;
  const warnedMissingParams = new Set<string>();
  const counters = { received: 0, accepted: 0, duplicates: 0, succeeded: 0, retried: 0, dead: 0 };
  const rejected: Record<string, number> = {};
  const instruments = new Instruments(name, provider);
  const imports = new ImportTracker(instruments);
  /** Import state for a backend that keeps none, and for `receive()` (no delivery is stored). */
  let localState: MemoryImportState | undefined;
  const importStateOf = (delivery: Delivery, stored: boolean): ImportState =>
    (stored ? queue.importState?.(delivery) : undefined) ?? (localState ??= new MemoryImportState()).forDelivery(delivery.id);

  /**
   * Every handler for an event type: exact, each dotted prefix with `.*`, aliases, then onAny.
   * Wildcards and aliases match only the provider's known types, as their handler types say;
   * a type the provider does not know reaches onAny (and handlers registered for its exact name).
   */
  function handlersFor(type: string): readonly AnyHandler[] {
    const cached = handlerCache.get(type);
    if (cached) return cached;
    const out: AnyHandler[] = [];
    const add = (key: string) => {
      const set = handlers.get(key);
      if (set) for (const h of set) out.push(h);
    };
    add(type);
    if (Object.hasOwn(provider.events, type)) {
      for (let dot = type.indexOf('.'); dot !== -1; dot = type.indexOf('.', dot + 1)) add(`${type.slice(0, dot)}.*`);
      for (const alias of aliasesOf.get(type) ?? []) add(alias);
    }
    for (const h of anyHandlers) out.push(h);
    // Senders may invent types: keep the cache bounded.
    if (handlerCache.size >= 1000) handlerCache.clear();
    handlerCache.set(type, out);
    return out;
  }

  /** Controllers of handler calls in progress whose handler read `ctx.signal`. */
  const activeControllers = new Set<AbortController>();

  /**
   * Handler calls in progress, in the order they started. Every call has the same timeout, so
   * their deadlines are in that order too: one timer, armed for the oldest call, watches them all
   * (a timer per call cost more than the rest of the call's bookkeeping).
   */
  const inProgress = new Set<HandlerCall>();
  let sweepTimer: NodeJS.Timeout | undefined;

  function sweep(): void {
    sweepTimer = undefined;
    const now = performance.now();
    for (const call of inProgress) {
      if (call.deadline > now) {
        sweepTimer = setTimeout(sweep, call.deadline - now).unref();
        return;
      }
      inProgress.delete(call);
      call.expire();
    }
  }

  function callHandler(handler: AnyHandler, event: WebhookEvent, state: () => ImportState): Promise<unknown> {
    // The AbortController is made only when the handler reads ctx.signal: most handlers never do,
    // and an AbortController costs more than the rest of a call (EventTarget set-up).
    let controller: AbortController | undefined;
    let abortedBy: unknown;
    const ctx: HandlerContext & { readonly [PROGRESS]: ImportTracker } = {
      get signal() {
        if (controller === undefined) {
          controller = new AbortController();
          if (abortedBy !== undefined) controller.abort(abortedBy);
          else if (closeController.signal.aborted) controller.abort(closeController.signal.reason);
          else activeControllers.add(controller);
        }
        return controller.signal;
      },
      logger,
      get importState() {
        return state();
      },
      // For importRows: where it reports progress (stats().imports), out of the public context's type.
      [PROGRESS]: imports,
    };
    let result: unknown;
    try {
      result = handler(event, ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    // A handler that answered synchronously is done: nothing to time out.
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') return Promise.resolve(result);
    return new Promise<unknown>((resolve, reject) => {
      const call: HandlerCall = {
        deadline: performance.now() + handlerTimeoutMs,
        expire() {
          abortedBy = new WebhookError('handler.timeout', `A ${event.type} handler took longer than ${handlerTimeoutMs} ms`);
          if (controller) {
            controller.abort(abortedBy);
            activeControllers.delete(controller);
          }
          reject(abortedBy);
        },
      };
      inProgress.add(call);
      // Unref'd: the handler's own I/O keeps the process alive, not this watch.
      sweepTimer ??= setTimeout(sweep, handlerTimeoutMs).unref();
      const settle = () => {
        inProgress.delete(call);
        if (controller) activeControllers.delete(controller);
      };
      (result as PromiseLike<unknown>).then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  async function run(delivery: Delivery, attempt: number, skip?: Set<unknown>, stored = true): Promise<void> {
    // Field by field: whatever else a queue or store put on the delivery stays out of the event.
    const event: WebhookEvent = { id: delivery.id, type: delivery.type, provider: delivery.provider, payload: delivery.payload, receivedAt: delivery.receivedAt, attempt };
    // Made when a handler first reads ctx.importState, once per attempt.
    let importState: ImportState | undefined;
    const state = () => (importState ??= importStateOf(delivery, stored));
    const list = handlersFor(delivery.type);
    if (list.length === 1) {
      // The common case, without the bookkeeping of several handlers.
      const handler = list[0]!;
      if (skip?.has(handler)) return;
      try {
        await callHandler(handler, event, state);
      } catch (error) {
        throw error instanceof WebhookError ? error : new WebhookError('handler.failed', `A ${delivery.type} handler failed`, { cause: error });
      }
      skip?.add(handler);
      return;
    }
    const errors: unknown[] = [];
    await Promise.all(
      list.map((handler) =>
        skip?.has(handler)
          ? undefined
          : callHandler(handler, event, state).then(
              () => skip?.add(handler),
              (error: unknown) => void errors.push(error),
            ),
      ),
    );
    if (errors.length === 0) return;
    if (errors.length === 1 && errors[0] instanceof WebhookError) throw errors[0];
    const cause = errors.length === 1 ? errors[0] : new AggregateError(errors, `${errors.length} handlers failed`);
    throw new WebhookError('handler.failed', `A ${delivery.type} handler failed`, { cause });
  }

  /**
   * Deliveries a fetch handler's `waitUntil` was handed, by id: settled once the in-process queue
   * has run them (succeeded or dead letter), or once `close()` has finished.
   */
  const waiters = new Map<string, () => void>();
  function settleWaiter(id: string): void {
    const settle = waiters.get(id);
    if (settle === undefined) return;
    waiters.delete(id);
    settle();
  }
  /** Only the in-process queue runs a delivery in this process, after the answer. */
  const runsHere = options.queue === undefined;

  const runtime: QueueRuntime = {
    name,
    concurrency,
    maxQueued,
    attempts,
    dedupeTtlMs,
    logger,
    run: (delivery, attempt, skip) => instruments.attempt(run, delivery, attempt, skip),
    async revive(delivery, body) {
      const decoded: unknown = await decodeBody(body.bytes, body.type);
      const result = await payloadSchema(provider, delivery.type).safeParseAsync(decoded);
      if (!result.success) throw payloadInvalid(delivery.type, result.error);
      return withTrace(delivery, { id: delivery.id, type: delivery.type, provider: delivery.provider, payload: result.data, receivedAt: delivery.receivedAt });
    },
    retryDelay: (attempt) => backoffDelay(attempt, minDelayMs, maxDelayMs),
    orderKey: orderBy
      ? (delivery) => {
          try {
            return orderBy({ ...delivery, attempt: 1 } as AnyEvent<P>);
          } catch (error) {
            // The delivery is already accepted: run it unordered rather than lose it.
            logger.error({ err: error, id: delivery.id }, 'scrapehook: orderBy threw; the delivery runs unordered');
            return undefined;
          }
        }
      : () => undefined,
    succeeded(delivery) {
      counters.succeeded++;
      settleWaiter(delivery.id);
    },
    retrying(delivery, attempt, error, delayMs) {
      counters.retried++;
      logger.warn(
        { id: delivery.id, type: delivery.type, provider: delivery.provider, attempt, delayMs, err: error.cause ?? error },
        'scrapehook: a handler failed; retrying',
      );
    },
    dead(delivery, attempts, error) {
      counters.dead++;
      settleWaiter(delivery.id);
      logger.error(
        { id: delivery.id, type: delivery.type, provider: delivery.provider, attempts, err: error.cause ?? error },
        'scrapehook: a delivery failed for good and is now a dead letter',
      );
      const event = { ...delivery, attempt: attempts } as AnyEvent<P>;
      // Listeners get the same safe copy the logger gets: their error may be reported anywhere.
      const safe = errorHandlers.size > 0 ? safeError(error) : error;
      for (const listener of errorHandlers) {
        new Promise((resolve) => resolve(listener(safe, event))).catch((listenerError: unknown) => {
          logger.error({ err: listenerError }, 'scrapehook: an onError listener threw; ignored');
        });
      }
    },
  };
  queue.start(runtime);

  const pipeline = createPipeline({
    provider,
    limit,
    bodyTimeoutMs,
    logger,
    retryAfterSeconds,
    instruments,
    isClosing: () => closing !== undefined,
    isFull: () => queue.counts().queued >= maxQueued,
    enqueue(delivery, body, waitUntil) {
      if (waitUntil === undefined || !runsHere || waiters.has(delivery.id)) return queue.enqueue(delivery, body);
      // Registered before enqueueing: the delivery may run, and finish, before enqueue settles.
      let settle!: () => void;
      const done = new Promise<void>((resolve) => (settle = resolve));
      waiters.set(delivery.id, settle);
      const forget = () => {
        if (waiters.get(delivery.id) === settle) waiters.delete(delivery.id);
      };
      const handOver = (outcome: EnqueueResult): EnqueueResult => {
        if (outcome === 'accepted') waitUntil(done);
        else forget();
        return outcome;
      };
      let pending: EnqueueResult | Promise<EnqueueResult>;
      try {
        pending = queue.enqueue(delivery, body);
      } catch (error) {
        forget();
        throw error;
      }
      if (typeof pending === 'string') return handOver(pending);
      return pending.then(handOver, (error: unknown) => {
        forget();
        throw error;
      });
    },
    count(outcome) {
      counters[outcome]++;
    },
    rejected(type) {
      rejected[type] = (rejected[type] ?? 0) + 1;
    },
    invalid(delivery) {
      for (const listener of invalidHandlers) {
        try {
          listener(delivery);
        } catch (error) {
          logger.error({ err: error }, 'scrapehook: an onInvalid listener threw; ignored');
        }
      }
    },
    warnAlreadyParsed() {
      if (warnedAlreadyParsed) return;
      warnedAlreadyParsed = true;
      process.emitWarning(ALREADY_PARSED_MESSAGE, { code: 'SCRAPEHOOK_BODY_ALREADY_PARSED' });
    },
    missingParam(name) {
      if (warnedMissingParams.has(name)) return;
      warnedMissingParams.add(name);
      logger.warn(
        { provider: provider.name, param: name },
        `scrapehook: authentication failed, and the provider reads its token from the route parameter \`${name}\`, ` +
          `which this request has no value for. If the sender puts the token in the URL path, name the parameter in the mount: ` +
          `nodeHandler({ path: '/webhooks/${provider.name}/:${name}' }) for node:http, ` +
          `or app.all('/webhooks/${provider.name}/:${name}', hooks.middleware()) for Express`,
      );
    },
  });

  function subscribe<T>(set: Set<T>, item: T): Unsubscribe {
    if (typeof item !== 'function') throw new TypeError(`Expected a handler function, got ${typeof item}`);
    set.add(item);
    handlerCache.clear();
    return () => {
      set.delete(item);
      handlerCache.clear();
    };
  }

  const receiver: Receiver<P> = {
    provider,
    name,
    on(pattern, handler) {
      const patterns: readonly string[] = typeof pattern === 'string' ? [pattern] : (pattern as readonly string[]);
      const offs = patterns.map((name) => {
        if (typeof name !== 'string' || name === '') throw new TypeError(`Expected an event type, got ${JSON.stringify(name)}`);
        if (name === '*') throw new TypeError('Use onAny(handler) to receive every event, not on("*")');
        if (name === 'error') throw new TypeError('Use onError(handler) for failed deliveries, not on("error")');
        let set = handlers.get(name);
        if (!set) handlers.set(name, (set = new Set()));
        return subscribe(set, handler as unknown as AnyHandler);
      });
      return () => offs.forEach((off) => off());
    },
    onAny: (handler) => subscribe(anyHandlers, handler as unknown as AnyHandler),
    onError: (handler) => subscribe(errorHandlers, handler),
    onInvalid: (handler) => subscribe(invalidHandlers, handler),
    middleware() {
      // The pipeline answers every request itself and never rejects, so `next` is not called.
      return function scrapehookMiddleware(req, res, _next) {
        void pipeline.node(req as IncomingRequest, res);
      };
    },
    nodeHandler(handlerOptions = {}) {
      const route = handlerOptions.path === undefined ? undefined : routeMatcher(handlerOptions.path);
      return function scrapehookNodeHandler(req, res) {
        void pipeline.node(req, res, route);
      };
    },
    fetchHandler(handlerOptions = {}) {
      const route = handlerOptions.path === undefined ? undefined : routeMatcher(handlerOptions.path);
      const fallback = handlerOptions.waitUntil;
      if (fallback !== undefined && typeof fallback !== 'function') {
        throw new TypeError(`Expected \`waitUntil\` to be a function, got ${typeof fallback}`);
      }
      return function scrapehookFetchHandler(request, context) {
        const waitUntil = typeof context?.waitUntil === 'function' ? context.waitUntil : fallback;
        return pipeline.fetch(request, { params: context?.params, waitUntil }, route);
      };
    },
    async receive({ type, payload, id }) {
      const result = await payloadSchema(provider, type).safeParseAsync(payload);
      if (!result.success) throw payloadInvalid(type, result.error);
      // Without an id, the provider's dedupe id is computed as if the payload had come as JSON.
      const deliveryId = id ?? provider.dedupeId({ type, payload: result.data, rawBody: Buffer.from(JSON.stringify(payload)), header: () => undefined });
      await run({ id: deliveryId, type, provider: provider.name, payload: result.data, receivedAt: new Date() }, 1, undefined, false);
    },
    deadLetters: () => queue.deadLetters(),
    replay: (id) => queue.replay(id),
    stats() {
      const { queued, running } = queue.counts();
      // Dead letters are stored state: from the backend when it can tell, else counted since start.
      return { ...counters, rejected: { ...rejected }, queued, running, dead: queue.deadCount?.() ?? counters.dead, imports: imports.list() };
    },
    onIdle: () => queue.onIdle(),
    close(closeOptions = {}) {
      const timeoutMs = nonNegativeInteger('timeoutMs', closeOptions.timeoutMs ?? 30_000);
      closing ??= queue.close(timeoutMs).then((drained) => {
        // Nothing more runs here: let the platform stop waiting.
        for (const id of [...waiters.keys()]) settleWaiter(id);
        if (drained) return;
        const { queued, running } = queue.counts();
        logger.error({ queued, running }, 'scrapehook: close() timed out; aborting running handlers');
        closeController.abort(new WebhookError('handler.timeout', 'The receiver closed before the handler finished'));
        for (const controller of activeControllers) controller.abort(closeController.signal.reason);
        activeControllers.clear();
      });
      return closing;
    },
  };
  // For the adapters shipped apart (scrapehook/fastify): hidden from the public type and from enumeration.
  Object.defineProperty(receiver, PIPELINE, { value: pipeline });
  return receiver;
}

/**
 * A receiver's name: it tags what a shared store keeps and names a BullMQ queue, so it may not
 * hold `:` (BullMQ's separator) or control characters.
 */
function receiverName(name: unknown, fromProvider: boolean): string {
  // eslint-disable-next-line no-control-regex
  if (typeof name !== 'string' || name === '' || name.length > 100 || /[:\x00-\x1f\x7f]/.test(name)) {
    throw new TypeError(
      `Expected \`name\` to be a non-empty name of at most 100 characters without ':' or control characters, got ${JSON.stringify(name)}` +
        (fromProvider ? " (the provider's name, the default): give the receiver a `name`" : ''),
    );
  }
  return name;
}

/** Stores that serve a receiver already and cannot serve another (they have no `forReceiver`). */
const singleUse = new WeakMap<Store, string>();

/** The view of `store` for the receiver `name`: its own deliveries only. */
function storeFor(store: Store, name: string): Store {
  if (typeof store !== 'object' || store === null || typeof store.accept !== 'function') {
    throw new TypeError(`Expected \`store\` to be a store (memoryStore(), sqliteStore(...)), got ${store === null ? 'null' : typeof store}`);
  }
  if (typeof store.forReceiver === 'function') return store.forReceiver(name);
  const user = singleUse.get(store);
  if (user !== undefined) {
    throw new TypeError(
      `Expected a store of its own for receiver ${JSON.stringify(name)}: this store serves receiver ${JSON.stringify(user)} and has no forReceiver() to serve several`,
    );
  }
  singleUse.set(store, name);
  return store;
}

/** Express 5's route matching (path-to-regexp 8, case-insensitive, trailing slash allowed) for `nodeHandler({ path })`. */
function routeMatcher(path: unknown): RouteMatcher {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`Expected \`path\` to be a path starting with /, such as '/webhooks/apify/:token', got ${JSON.stringify(path)}`);
  }
  let tokens: Token[];
  try {
    tokens = parse(path).tokens;
  } catch (error) {
    throw new TypeError(`Expected \`path\` to be a route path such as '/webhooks/apify/:token', got ${JSON.stringify(path)}: ${(error as Error).message}`);
  }
  const hasWildcard = (list: Token[]): boolean => list.some((t) => t.type === 'wildcard' || (t.type === 'group' && hasWildcard(t.tokens)));
  if (hasWildcard(tokens)) {
    throw new TypeError(`Expected \`path\` without wildcards (a token is one segment: use :name), got ${JSON.stringify(path)}`);
  }
  // As Express: a trailing slash on the mount path is ignored, and parameters are percent-decoded.
  const matches = match<Record<string, string>>(path === '/' ? path : path.replace(/\/+$/, ''), {
    sensitive: false,
    end: true,
    trailing: true,
    decode: (value) => (value.includes('%') ? decodeURIComponent(value) : value),
  });
  return (requestPath) => {
    try {
      const result = matches(requestPath);
      return result === false ? undefined : (result.params as Record<string, string>);
    } catch {
      // A parameter that is not valid percent-encoding (Express answers 400): not this route.
      return undefined;
    }
  };
}

function parseLimit(value: number | string): number {
  const parsed = typeof value === 'number' ? value : bytes(value);
  if (parsed === undefined || !Number.isInteger(parsed) || parsed < 1) {
    throw new TypeError(`Expected \`limit\` to be a positive number of bytes or a size such as '10mb', got ${JSON.stringify(value)}`);
  }
  return parsed;
}
