import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { ALREADY_PARSED_MESSAGE, alreadyConsumed, answerThenDiscard, checkLimit, isIdentity, readBody, readDeclared, readStream, tooLarge } from '../body/read-body.ts';
import { bodyTypeOf, decodeBody } from '../body/decode-body.ts';
import { WebhookError } from '../errors.ts';
import type { EnqueueResult } from '../core/backend.ts';
import { payloadInvalid, validate } from '../core/validate.ts';
import { redactUrl } from '../log.ts';
import type { Instruments, RequestMark } from '../telemetry/instruments.ts';
import type { AnyProvider, Delivery, InvalidDelivery, Logger, ReceivedBody, VerifyContext } from '../types.ts';

/** A request as the Express adapter may hand it over: with route params and maybe a body read already. */
export interface IncomingRequest extends IncomingMessage {
  params?: Record<string, string>;
  body?: unknown;
  rawBody?: unknown;
}

/** What the pipeline needs from the receiver. */
export interface PipelineState {
  readonly provider: AnyProvider;
  readonly limit: number;
  /** How long a body may take to arrive, from the request's start. */
  readonly bodyTimeoutMs: number;
  readonly logger: Logger;
  readonly retryAfterSeconds: number;
  /** The receiver's counters of requests (`stats()`), counted here. */
  readonly counters: { received: number; accepted: number; duplicates: number };
  /** Requests refused, by error type (`stats().rejected`), counted here. */
  readonly rejected: Record<string, number>;
  isClosing(): boolean;
  isFull(): boolean;
  /** `waitUntil`, when the platform has one, is handed the work an accepted delivery starts. */
  enqueue(delivery: Delivery, body: ReceivedBody | undefined, waitUntil?: WaitUntil): EnqueueResult | Promise<EnqueueResult>;
  /** A payload failed its schema: tells the `onInvalid` listeners. */
  invalid(delivery: InvalidDelivery): void;
  /** Metrics and traces (no-ops until some are attached). */
  readonly instruments: Instruments;
}

/**
 * Matches a request's path (without its query) against a mount path: its route parameters, or
 * `undefined` when the path does not match.
 */
export type RouteMatcher = (path: string) => Record<string, string> | undefined;

/** A platform's way to keep work running after the response (`ctx.waitUntil` of Workers, Vercel...). */
export type WaitUntil = (promise: Promise<unknown>) => void;

/** What a fetch handler may be given besides the `Request`: route parameters and `waitUntil`. */
export interface FetchContext {
  /** Route parameters (a token in the path), as a router gives them; Next.js gives a promise. */
  params?: Record<string, string> | Promise<Record<string, string>>;
  /** Called with the work an accepted delivery starts in the in-process queue (see the README). */
  waitUntil?: WaitUntil;
}

/**
 * One request as the pipeline sees it, whatever carried it: a `node:http` request (Express,
 * `nodeHandler()`, Fastify) or a fetch `Request` (Hono, Next.js, Bun, Deno).
 */
interface Incoming {
  readonly method: string;
  /** The path and query as requested: the query may carry a token; logged only redacted. */
  readonly url: string;
  params: Record<string, string> | undefined;
  header(name: string): string | undefined;
  headers(): Record<string, string>;
  /** The whole body, inflated, with the limit enforced while reading. */
  readBody(): Promise<Buffer>;
  readonly waitUntil?: WaitUntil;
  /** Telemetry of this request, when some is recorded. */
  mark?: RequestMark | undefined;
}

/**
 * A request whose body a framework has already read, as it arrived (not inflated), within the
 * receiver's `limit` (Fastify's `parseAs: 'buffer'`).
 */
export interface BufferedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly params: Record<string, string> | undefined;
  readonly headers: IncomingMessage['headers'];
  /** `undefined` when there was no body. */
  readonly body: Buffer | undefined;
}

/** An answer, before an adapter writes it. */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;
const UNAUTHORIZED = JSON.stringify(new WebhookError('unauthorized', 'Authentication failed').toJSON());

/**
 * The request pipeline, in order; each step answers with its own status:
 * path 404 (`nodeHandler({ path })`, `fetchHandler({ path })` only) · method 405 · closing/full 503 · content type 415 ·
 * body 413/408/400/415 · authentication 401 · decoding 400 · event type 400 · schema 400 ·
 * dedupe 200 · enqueue 202 (or 503 when full or unavailable).
 * The answer never waits for a handler. Over `node:http`, an answer given before the body was read
 * to its end lets the rest of it arrive (thrown away, within bounds) before closing, so a sender
 * still uploading reads the answer instead of a reset connection; a fetch runtime does that itself.
 * Every adapter runs the same steps: only reading the body and writing the answer differ.
 */
export function createPipeline(state: PipelineState) {
  const { provider, limit, bodyTimeoutMs, logger } = state;
  // The rest of a body an early answer did not read is thrown away up to this many bytes.
  const discardBytes = 2 * limit;
  const keepRawBody = provider.keepRawBody !== false;
  let warnedAlreadyParsed = false;
  const warnedMissingParams = new Set<string>();

  /** Once per receiver: a body parser read the body before the pipeline could. */
  function warnAlreadyParsed(): void {
    if (warnedAlreadyParsed) return;
    warnedAlreadyParsed = true;
    process.emitWarning(ALREADY_PARSED_MESSAGE, { code: 'SCRAPEHOOK_BODY_ALREADY_PARSED' });
  }

  /** Once per parameter: authentication failed, and the verifier read a route parameter the request has no value for. */
  function warnMissingParam(name: string): void {
    if (warnedMissingParams.has(name)) return;
    warnedMissingParams.add(name);
    logger.warn(
      { provider: provider.name, param: name },
      `scrapehook: authentication failed, and the provider reads its token from the route parameter \`${name}\`, ` +
        `which this request has no value for. If the sender puts the token in the URL path, name the parameter in the mount: ` +
        `nodeHandler({ path: '/webhooks/${provider.name}/:${name}' }) for node:http, ` +
        `or app.all('/webhooks/${provider.name}/:${name}', hooks.middleware()) for Express`,
    );
  }

  /** Counts and logs a refused request, and the answer it gets. */
  function failure(incoming: Incoming, error: WebhookError): Answer {
    state.rejected[error.type] = (state.rejected[error.type] ?? 0) + 1;
    state.instruments.answered(incoming.mark, error.status, error.type);
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (error.status === 503) headers['retry-after'] = String(state.retryAfterSeconds);
    if (error.status === 405) headers.allow = 'POST';
    const body = error.type === 'unauthorized' ? UNAUTHORIZED : JSON.stringify(error.toJSON());
    if (error.type === 'route.not.found') {
      // No route parameters were matched, so nothing in the path can be redacted: log no URL at all.
      logger.warn({ provider: provider.name, status: error.status, code: error.type }, `scrapehook: rejected a request: ${error.type}`);
    } else if (error.status >= 500 && error.type !== 'queue.full' && error.type !== 'queue.unavailable' && error.type !== 'receiver.closing') {
      logger.error({ err: error.cause ?? error, provider: provider.name, url: redactUrl(incoming.url, incoming.params) }, `scrapehook: ${error.message}`);
    } else {
      logger.warn(
        { provider: provider.name, status: error.status, code: error.type, url: redactUrl(incoming.url, incoming.params) },
        `scrapehook: rejected a delivery: ${error.type}`,
      );
    }
    return { status: error.status, headers, body };
  }

  /** The steps every adapter shares, in order: the answer, or a throw of the WebhookError to answer. */
  async function handle(incoming: Incoming, route: RouteMatcher | undefined): Promise<Answer> {
    state.counters.received++;
    incoming.mark = state.instruments.request();
    if (route !== undefined) {
      const url = incoming.url;
      const mark = url.indexOf('?');
      const params = route(mark === -1 ? url : url.slice(0, mark));
      if (params === undefined) throw new WebhookError('route.not.found', 'No webhook is received at this path');
      incoming.params = params;
    }
    if (incoming.method !== 'POST') throw new WebhookError('method.not.allowed', 'Only POST is accepted');
    if (state.isClosing()) throw new WebhookError('receiver.closing', 'The receiver is shutting down; retry later');
    if (state.isFull()) throw new WebhookError('queue.full', 'The receiver is overloaded; retry later');
    const bodyType = bodyTypeOf(incoming.header('content-type'), provider.bodyTypes);
    const rawBody = await incoming.readBody();

    const view = new RequestContext(incoming);
    view.rawBody = rawBody;
    let genuine = false;
    try {
      const verdict = provider.verify(view);
      // Built-in verifiers answer synchronously: skip the microtask an await would cost.
      genuine = typeof verdict === 'boolean' ? verdict : await verdict;
    } catch (error) {
      logger.error({ err: error, provider: provider.name }, 'scrapehook: the authentication strategy threw; the request is refused');
    }
    if (!genuine) {
      const missing = view.missingParam();
      if (missing !== undefined) warnMissingParam(missing);
      throw new WebhookError('unauthorized', 'Authentication failed');
    }

    let body = decodeBody(rawBody, bodyType);
    // Only a multipart form decodes asynchronously: JSON and urlencoded forms skip the await.
    if (body instanceof Promise) body = await body;
    const type = provider.eventType(body, view);
    if (type === undefined) throw new WebhookError('event.type.missing', 'The body does not say which event it is');
    let result = validate(provider, type, body);
    if (result instanceof Promise) result = await result;
    if (!result.success) {
      const error = payloadInvalid(type, result.error);
      state.invalid({ provider: provider.name, type, error, body, rawBody, headers: incoming.headers() });
      throw error;
    }
    const payload: unknown = result.data;
    const id = provider.dedupeId({ type, payload, rawBody, header: view.header });
    const delivery: Delivery = { id, type, provider: provider.name, payload, receivedAt: new Date() };
    // close() may have started while the body was read: accept nothing after the drain began.
    if (state.isClosing()) throw new WebhookError('receiver.closing', 'The receiver is shutting down; retry later');
    state.instruments.accepting(incoming.mark, delivery);
    const pending = state.enqueue(delivery, keepRawBody ? { bytes: rawBody, type: bodyType } : undefined, incoming.waitUntil);
    const outcome = typeof pending === 'string' ? pending : await pending;
    if (outcome === 'full') throw new WebhookError('queue.full', 'The receiver is overloaded; retry later');
    if (outcome === 'duplicate') {
      state.counters.duplicates++;
      state.instruments.answered(incoming.mark, 200, undefined);
      return { status: 200, headers: JSON_HEADERS, body: `{"id":${JSON.stringify(id)},"duplicate":true}` };
    }
    state.counters.accepted++;
    state.instruments.answered(incoming.mark, 202, undefined);
    return { status: 202, headers: JSON_HEADERS, body: `{"id":${JSON.stringify(id)}}` };
  }

  async function rawBodyOf(req: IncomingRequest, headers: IncomingMessage['headers']): Promise<Buffer> {
    // Another middleware may have read the stream already: use its bytes if it kept them. Read
    // `rawBody`, `body` and `_body` only when the request may have them (see mayHoldBody): each
    // lookup of a property a request lacks costs a walk of its prototype chain under Express.
    if (mayHoldBody(req)) {
      if (Buffer.isBuffer(req.rawBody)) return checkLimit(req.rawBody, limit);
      if (typeof req.rawBody === 'string') return checkLimit(Buffer.from(req.rawBody), limit);
      if (Buffer.isBuffer(req.body)) return checkLimit(req.body, limit);
      if (req.body !== undefined || (req as { _body?: unknown })._body === true) {
        warnAlreadyParsed();
        throw alreadyConsumed();
      }
    }
    if (req.readableEnded) {
      warnAlreadyParsed();
      throw alreadyConsumed();
    }
    return readBody(req, limit, bodyTimeoutMs, headers);
  }

  function nodeIncoming(req: IncomingRequest): Incoming {
    return new NodeIncoming(req, rawBodyOf);
  }

  /**
   * The fetch `Request`'s body, inflated, with the limit enforced while reading. Not an async
   * function: the common case (a declared length, no encoding) hands back readDeclared's promise
   * as is, and a refusal before reading throws, which `handle()` (async) turns into its rejection.
   */
  function readFetchBody(request: Request, headers: Headers): Promise<Buffer> {
    if (request.bodyUsed) throw new WebhookError('body.already.parsed', FETCH_BODY_USED);
    const encoding = headers.get('content-encoding') ?? undefined;
    const declared = headers.get('content-length') ?? undefined;
    if (declared !== undefined && isIdentity(encoding)) {
      // The common case, without a stream (see readDeclared). A declared length over the limit
      // is refused before reading; one that is not a number takes the streaming path below.
      const length = Number(declared);
      if (length > limit) throw tooLarge(limit);
      if (length === 0) return Promise.resolve(EMPTY);
      if (Number.isInteger(length) && length > 0) return readDeclared(request, limit, bodyTimeoutMs);
    }
    if (request.body === null) return Promise.resolve(EMPTY);
    return readFetchStream(request, encoding, declared);
  }

  async function readFetchStream(request: Request, encoding: string | undefined, declared: string | undefined): Promise<Buffer> {
    const stream = Readable.fromWeb(request.body as NodeReadableStream<Uint8Array>);
    try {
      return await readStream(stream, encoding, declared, limit, bodyTimeoutMs);
    } catch (error) {
      // Stop reading: the rest of the body is the platform's to drop.
      stream.destroy();
      throw error;
    }
  }

  function fetchIncoming(request: Request, params: Record<string, string> | undefined, waitUntil: WaitUntil | undefined): Incoming {
    return new FetchIncoming(request, params, waitUntil, readFetchBody);
  }

  /** Runs the pipeline on a fetch `Request` whose route parameters are known: the `Response`; never rejects. */
  function fetchWith(request: Request, params: Record<string, string> | undefined, waitUntil: WaitUntil | undefined, route: RouteMatcher | undefined): Promise<Response> {
    let incoming: Incoming;
    try {
      incoming = fetchIncoming(request, params, waitUntil);
    } catch (error) {
      // As an async function would: a second throw while answering becomes the rejection.
      return new Promise((resolve) => resolve(fetchFailure(request, error)));
    }
    return handle(incoming, route).then(toResponse, (error: unknown) => toResponse(failure(incoming, internal(error))));
  }

  /** The answer to a request that failed before the pipeline could look at it. */
  function fetchFailure(request: Request, error: unknown): Response {
    return toResponse(failure(fetchIncoming(request, undefined, undefined), internal(error)));
  }

  /** A body a framework read, as it arrived: inflated here, with the limit enforced on the inflated bytes. */
  function readBuffered(request: BufferedRequest): Promise<Buffer> {
    const body = request.body;
    if (body === undefined) return Promise.resolve(EMPTY);
    const encoding = request.headers['content-encoding'];
    if (isIdentity(encoding)) return Promise.resolve(checkLimit(body, limit));
    return readStream(Readable.from([body]), encoding, undefined, limit, bodyTimeoutMs);
  }

  function bufferedIncoming(request: BufferedRequest): Incoming {
    return new BufferedIncoming(request, readBuffered);
  }

  const internal = (error: unknown) => (error instanceof WebhookError ? error : new WebhookError('internal', 'Internal error', { cause: error }));

  return {
    /** The largest body accepted, after inflation, in bytes. */
    limit,
    /** Where `prometheusMetrics()` and `openTelemetryTracing()` attach. */
    instruments: state.instruments,
    /** Handles one `node:http` request; never rejects. With `route`, a request for another path is answered 404. */
    node(req: IncomingRequest, res: ServerResponse, route?: RouteMatcher): Promise<void> {
      const deadline = performance.now() + bodyTimeoutMs;
      const incoming = nodeIncoming(req);
      return handle(incoming, route).then(
        (answer) => void res.writeHead(answer.status, answer.headers).end(answer.body),
        (error: unknown) => {
          const webhookError = internal(error);
          const answer = failure(incoming, webhookError);
          if (res.headersSent) return;
          if (webhookError.status === 413) answer.headers.connection = 'close';
          if (webhookError.type === 'body.timeout') {
            // Time is up: no more waiting for the rest. Node closes the connection once this is written.
            answer.headers.connection = 'close';
            res.writeHead(answer.status, answer.headers).end(answer.body);
          } else if (req.complete) {
            res.writeHead(answer.status, answer.headers).end(answer.body);
          } else {
            answerThenDiscard(req, res, answer.status, answer.headers, answer.body, { maxBytes: discardBytes, deadline });
          }
        },
      );
    },
    /** Answers a request whose body a framework read (Fastify); never rejects. */
    buffered(request: BufferedRequest): Promise<Answer> {
      const incoming = bufferedIncoming(request);
      return handle(incoming, undefined).catch((error: unknown) => failure(incoming, internal(error)));
    },
    /** The answer to a request the framework refused while reading its body (too large, aborted...). */
    refused(request: BufferedRequest, error: WebhookError): Answer {
      state.counters.received++;
      return failure(bufferedIncoming(request), error);
    },
    /**
     * Handles one fetch `Request`; never rejects. Route parameters come from `route` when given (a
     * request for another path is answered 404), else from `context.params`.
     */
    fetch(request: Request, context: FetchContext | undefined, route?: RouteMatcher, fallbackWaitUntil?: WaitUntil): Promise<Response> {
      const waitUntil = typeof context?.waitUntil === 'function' ? context.waitUntil : fallbackWaitUntil;
      const params = route === undefined ? context?.params : undefined;
      if (params === undefined || params === null) return fetchWith(request, undefined, waitUntil, route);
      // Next.js gives the parameters as a promise; a plain object needs no await (and no microtask).
      if (typeof (params as { then?: unknown }).then !== 'function') return fetchWith(request, params as Record<string, string>, waitUntil, route);
      return Promise.resolve(params).then(
        (resolved) => fetchWith(request, resolved, waitUntil, route),
        (error: unknown) => fetchFailure(request, error),
      );
    },
  };
}

/** The path and query of an absolute URL (`Request.url`), as `node:http` gives `req.url`. */
function pathAndQuery(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return url;
  const slash = url.indexOf('/', scheme + 3);
  if (slash === -1) return '/';
  const hash = url.indexOf('#', slash);
  return hash === -1 ? url.slice(slash) : url.slice(slash, hash);
}

/** The sentence a fetch handler answers when the `Request` body was read before it. */
const FETCH_BODY_USED =
  'The request body was already read (request.bodyUsed) before scrapehook could read the raw bytes it needs ' +
  'to verify signatures: pass the Request to hooks.fetchHandler() unread (in Hono, c.req.raw before any c.req.json()), ' +
  'or pass request.clone() if something else must read it too.';

/** What {@link createPipeline} returns: one entry per way a request arrives. */
export type Pipeline = ReturnType<typeof createPipeline>;

/** Where a receiver keeps its pipeline, for adapters shipped apart (`scrapehook/fastify`); not public API. */
export const PIPELINE: unique symbol = Symbol.for('scrapehook.pipeline');

/** The pipeline of a receiver made by `createReceiver()`, or `undefined` for anything else. */
export function pipelineOf(receiver: unknown): Pipeline | undefined {
  if (typeof receiver !== 'object' || receiver === null) return undefined;
  return (receiver as { [PIPELINE]?: Pipeline })[PIPELINE];
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A `node:http` request as the pipeline sees it. A class with prototype accessors: an object
 * literal with a getter and setter made per request cost a hidden class of its own each time, and
 * under load made V8 promote the requests' objects to the old generation (bench/profile.mjs
 * --heap --survivors).
 */
class NodeIncoming implements Incoming {
  readonly method: string;
  readonly #req: IncomingRequest;
  readonly #read: (req: IncomingRequest, headers: IncomingMessage['headers']) => Promise<Buffer>;
  /**
   * `req.headers`, read once. Under Express every request object gets a map (hidden class) of its
   * own (its prototype is swapped, then properties are added), so each property read on it misses
   * V8's inline caches and is looked up again; `req.headers` changed map between the reads.
   */
  #headers: IncomingMessage['headers'] | undefined = undefined;
  mark: RequestMark | undefined = undefined;

  constructor(req: IncomingRequest, read: (req: IncomingRequest, headers: IncomingMessage['headers']) => Promise<Buffer>) {
    this.method = req.method ?? 'GET';
    this.#req = req;
    this.#read = read;
  }

  /** Read when needed (a route to match, a refusal to log, a verifier that asks): not on every request. */
  get url(): string {
    return this.#req.url ?? '/';
  }

  get params(): Record<string, string> | undefined {
    return this.#req.params;
  }

  set params(params: Record<string, string> | undefined) {
    this.#req.params = params;
  }

  header(name: string): string | undefined {
    return headerOf((this.#headers ??= this.#req.headers), name);
  }

  headers(): Record<string, string> {
    return headersOf((this.#headers ??= this.#req.headers));
  }

  readBody(): Promise<Buffer> {
    return this.#read(this.#req, (this.#headers ??= this.#req.headers));
  }
}

/** A request whose body a framework read (Fastify), as the pipeline sees it: a class, as {@link NodeIncoming}. */
class BufferedIncoming implements Incoming {
  readonly method: string;
  readonly url: string;
  params: Record<string, string> | undefined;
  mark: RequestMark | undefined = undefined;
  readonly #request: BufferedRequest;
  readonly #read: (request: BufferedRequest) => Promise<Buffer>;

  constructor(request: BufferedRequest, read: (request: BufferedRequest) => Promise<Buffer>) {
    this.method = request.method;
    this.url = request.url;
    this.params = request.params;
    this.#request = request;
    this.#read = read;
  }

  header(name: string): string | undefined {
    return headerOf(this.#request.headers, name);
  }

  headers(): Record<string, string> {
    return headersOf(this.#request.headers);
  }

  readBody(): Promise<Buffer> {
    return this.#read(this.#request);
  }
}

/** An answer as a fetch `Response`: a string body and a plain object of headers, the cheapest form to build and (under @hono/node-server) to write. */
function toResponse(answer: Answer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/**
 * A fetch `Request` as the pipeline sees it: a class for the same reason as {@link NodeIncoming}
 * (one hidden class, no per-request closures). The `Headers` object is read once.
 */
class FetchIncoming implements Incoming {
  readonly method: string;
  /** The path and query as requested: the query may carry a token; logged only redacted. */
  readonly url: string;
  params: Record<string, string> | undefined;
  readonly waitUntil: WaitUntil | undefined;
  mark: RequestMark | undefined = undefined;
  readonly #request: Request;
  readonly #headers: Headers;
  readonly #read: (request: Request, headers: Headers) => Promise<Buffer>;

  constructor(request: Request, params: Record<string, string> | undefined, waitUntil: WaitUntil | undefined, read: (request: Request, headers: Headers) => Promise<Buffer>) {
    this.method = request.method;
    this.url = pathAndQuery(request.url);
    this.params = params;
    this.waitUntil = waitUntil;
    this.#request = request;
    this.#headers = request.headers;
    this.#read = read;
  }

  header(name: string): string | undefined {
    return this.#headers.get(name) ?? undefined;
  }

  headers(): Record<string, string> {
    return Object.fromEntries(this.#headers);
  }

  readBody(): Promise<Buffer> {
    return this.#read(this.#request, this.#headers);
  }
}

/**
 * The request as verifiers and providers see it: one object per request. `header` and `query` are
 * bound, so they can be passed around detached (`const { header } = ctx`).
 */
class RequestContext implements VerifyContext {
  readonly #req: Incoming;
  #query: URLSearchParams | undefined;
  /** The first route parameter read that the request has no value for. */
  #missingParam: string | undefined;
  #params: Readonly<Record<string, string>> | undefined;
  rawBody: Buffer = EMPTY;

  constructor(req: Incoming) {
    this.#req = req;
  }

  get method(): string {
    return this.#req.method;
  }

  get url(): string {
    return this.#req.url;
  }

  get params(): Readonly<Record<string, string>> {
    // Watched, so that a 401 caused by a route parameter the mount does not define can say so.
    return (this.#params ??= new Proxy(this.#req.params ?? NO_PARAMS, {
      get: (target, key, receiver) => {
        if (typeof key === 'string' && this.#missingParam === undefined && !Object.hasOwn(target, key) && !(key in Object.prototype) && key !== 'then' && key !== 'toJSON') {
          this.#missingParam = key;
        }
        return Reflect.get(target, key, receiver) as unknown;
      },
    }));
  }

  /** The first route parameter a verifier read that the request has no value for. */
  missingParam(): string | undefined {
    return this.#missingParam;
  }

  readonly header = (name: string): string | undefined => this.#req.header(name);

  readonly query = (name: string): string | undefined => {
    if (this.#query === undefined) {
      const url = this.url;
      const mark = url.indexOf('?');
      this.#query = new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1));
    }
    return this.#query.get(name) ?? undefined;
  };
}

const EMPTY = Buffer.alloc(0);

/** Per prototype of requests: whether it has `rawBody`, `body` or `_body`, or inherits one. */
const protoHoldsBody = new WeakMap<object, boolean>();

/**
 * Whether a request may carry a body another middleware read: `rawBody`, `body` or `_body` on the
 * request itself (where body parsers put them), or on its prototype chain (looked at once per
 * prototype). `Object.hasOwn` looks only at the request's own properties, which under Express
 * costs far less than a property read: a request there has a map of its own, so a read misses
 * V8's caches and walks the seven prototypes before finding nothing.
 */
function mayHoldBody(req: object): boolean {
  if (Object.hasOwn(req, 'rawBody') || Object.hasOwn(req, 'body') || Object.hasOwn(req, '_body')) return true;
  const proto = Object.getPrototypeOf(req) as object | null;
  if (proto === null) return false;
  let holds = protoHoldsBody.get(proto);
  if (holds === undefined) {
    holds = 'rawBody' in proto || 'body' in proto || '_body' in proto;
    protoHoldsBody.set(proto, holds);
  }
  return holds;
}

/** A `node:http` header by lower-case name; several values are joined with `, `. */
function headerOf(headers: IncomingMessage['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function headersOf(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    const value = headerOf(headers, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
