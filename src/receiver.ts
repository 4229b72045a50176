import type { IncomingMessage, ServerResponse } from 'node:http';
import { PIPELINE, createPipeline, type FetchContext, type IncomingRequest, type WaitUntil } from './adapters/handle-request.ts';
import { routeMatcher } from './adapters/route.ts';
import type { ReceiverQueue } from './core/backend.ts';
import { HandlerRegistry, type AnyHandler, type Unsubscribe } from './core/handlers.ts';
import { receiverSettings } from './core/options.ts';
import { ReceiverCore } from './core/receiver-core.ts';
import { validPayload } from './core/validate.ts';
import type { RetryOptions } from './dispatch/backoff.ts';
import type { DedupeOptions } from './dispatch/dedupe.ts';
import { nonNegativeInteger } from './check-options.ts';
import { ImportTracker } from './import/progress.ts';
import { Instruments } from './telemetry/instruments.ts';
import type { Store } from './store/types.ts';
import type { AnyEvent, AnyProvider, DeadLetter, ErrorHandler, EventFor, EventPattern, Handler, InvalidDelivery, Logger, ReceiverStats } from './types.ts';

export type { Unsubscribe } from './core/handlers.ts';

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

/**
 * Creates a receiver: mount its middleware, register handlers, and every delivery is
 * authenticated, validated, deduplicated and acknowledged before a queued handler runs it.
 *
 * How it is built: the options are checked in `core/options.ts`; the handlers are kept by a
 * `HandlerRegistry`; requests run the pipeline of `adapters/handle-request.ts`, which hands each
 * accepted delivery to the queue backend; the backend hands each claimed delivery back to the
 * `ReceiverCore` (`core/receiver-core.ts`), which runs its handlers and decides what follows.
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
  const settings = receiverSettings(options);
  const { provider, name, logger, backend } = settings;
  const handlers = new HandlerRegistry(provider);
  const instruments = new Instruments(name, provider);
  const imports = new ImportTracker(instruments);
  const core = new ReceiverCore({ ...settings, handlers, imports, instruments });
  core.start();
  const rejected: Record<string, number> = {};

  const pipeline = createPipeline({
    provider,
    limit: settings.limit,
    bodyTimeoutMs: settings.bodyTimeoutMs,
    logger,
    retryAfterSeconds: settings.retryAfterSeconds,
    instruments,
    counters: core.counters,
    rejected,
    isClosing: () => core.closing,
    isFull: () => core.isFull(),
    enqueue: (delivery, body, waitUntil) => core.enqueue(delivery, body, waitUntil),
    invalid(delivery) {
      for (const listener of handlers.invalid) {
        try {
          listener(delivery);
        } catch (error) {
          logger.error({ err: error }, 'scrapehook: an onInvalid listener threw; ignored');
        }
      }
    },
  });

  const receiver: Receiver<P> = {
    provider,
    name,
    on: (pattern, handler) => handlers.on(pattern as string | readonly string[], handler as unknown as AnyHandler),
    onAny: (handler) => handlers.onAny(handler as unknown as AnyHandler),
    onError: (handler) => handlers.subscribe(handlers.error, handler),
    onInvalid: (handler) => handlers.subscribe(handlers.invalid, handler),
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
        return pipeline.fetch(request, context, route, fallback);
      };
    },
    async receive({ type, payload, id }) {
      const valid = await validPayload(provider, type, payload);
      // Without an id, the provider's dedupe id is computed as if the payload had come as JSON.
      const deliveryId = id ?? provider.dedupeId({ type, payload: valid, rawBody: Buffer.from(JSON.stringify(payload)), header: () => undefined });
      await core.run({ id: deliveryId, type, provider: provider.name, payload: valid, receivedAt: new Date() }, 1, undefined, undefined);
    },
    deadLetters: () => backend.deadLetters(),
    replay: (id) => backend.replay(id),
    stats() {
      const { queued, running } = backend.counts();
      // Dead letters are stored state: from the backend when it can tell, else counted since start.
      return { ...core.counters, rejected: { ...rejected }, queued, running, dead: backend.deadCount?.() ?? core.counters.dead, imports: imports.list() };
    },
    onIdle: () => backend.onIdle(),
    close: (closeOptions = {}) => core.close(nonNegativeInteger('timeoutMs', closeOptions.timeoutMs ?? 30_000)),
  };
  // For the adapters shipped apart (scrapehook/fastify): hidden from the public type and from enumeration.
  Object.defineProperty(receiver, PIPELINE, { value: pipeline });
  return receiver;
}
