import type { IncomingMessage, ServerResponse } from 'node:http';
import { alreadyConsumed, answerThenDiscard, checkLimit, readBody } from '../body/read-body.ts';
import { bodyTypeOf, decodeBody } from '../body/decode-body.ts';
import { WebhookError, type PayloadIssue } from '../errors.ts';
import type { EnqueueResult } from '../dispatch/queue.ts';
import { redactUrl } from '../log.ts';
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
  isClosing(): boolean;
  isFull(): boolean;
  enqueue(delivery: Delivery, body: ReceivedBody | undefined): EnqueueResult | Promise<EnqueueResult>;
  count(outcome: 'received' | 'accepted' | 'duplicates'): void;
  rejected(type: string): void;
  invalid(delivery: InvalidDelivery): void;
  warnAlreadyParsed(): void;
  /** Authentication failed, and the verifier read a route parameter the request has no value for. */
  missingParam(name: string): void;
}

/**
 * Matches a request's path (without its query) against a mount path: its route parameters, or
 * `undefined` when the path does not match.
 */
export type RouteMatcher = (path: string) => Record<string, string> | undefined;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;
const UNAUTHORIZED = JSON.stringify(new WebhookError('unauthorized', 'Authentication failed').toJSON());

/**
 * The request pipeline, in order; each step answers with its own status:
 * path 404 (`nodeHandler({ path })` only) · method 405 · closing/full 503 · content type 415 ·
 * body 413/408/400/415 · authentication 401 · decoding 400 · event type 400 · schema 400 ·
 * dedupe 200 · enqueue 202 (or 503 when full or unavailable).
 * The answer never waits for a handler. An answer given before the body was read to its end lets
 * the rest of it arrive (thrown away, within bounds) before closing, so a sender still uploading
 * reads the answer instead of a reset connection.
 */
export function createPipeline(state: PipelineState) {
  const { provider, limit, bodyTimeoutMs, logger } = state;
  // The rest of a body an early answer did not read is thrown away up to this many bytes.
  const discardBytes = 2 * limit;
  const keepRawBody = provider.keepRawBody !== false;

  function fail(req: IncomingRequest, res: ServerResponse, error: WebhookError, deadline: number): void {
    state.rejected(error.type);
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (error.status === 503) headers['retry-after'] = String(state.retryAfterSeconds);
    if (error.status === 405) headers.allow = 'POST';
    if (error.status === 413) headers.connection = 'close';
    const body = error.type === 'unauthorized' ? UNAUTHORIZED : JSON.stringify(error.toJSON());
    if (error.type === 'route.not.found') {
      // No route parameters were matched, so nothing in the path can be redacted: log no URL at all.
      logger.warn({ provider: provider.name, status: error.status, code: error.type }, `scrapehook: rejected a request: ${error.type}`);
    } else if (error.status >= 500 && error.type !== 'queue.full' && error.type !== 'queue.unavailable' && error.type !== 'receiver.closing') {
      logger.error({ err: error.cause ?? error, provider: provider.name, url: redactUrl(req.url ?? '', req.params) }, `scrapehook: ${error.message}`);
    } else {
      logger.warn(
        { provider: provider.name, status: error.status, code: error.type, url: redactUrl(req.url ?? '', req.params) },
        `scrapehook: rejected a delivery: ${error.type}`,
      );
    }
    if (res.headersSent) return;
    if (error.type === 'body.timeout') {
      // Time is up: no more waiting for the rest. Node closes the connection once this is written.
      headers.connection = 'close';
      res.writeHead(error.status, headers).end(body);
    } else if (req.complete) {
      res.writeHead(error.status, headers).end(body);
    } else {
      answerThenDiscard(req, res, error.status, headers, body, { maxBytes: discardBytes, deadline });
    }
  }

  async function handle(req: IncomingRequest, res: ServerResponse, route: RouteMatcher | undefined): Promise<void> {
    state.count('received');
    if (route !== undefined) {
      const url = req.url ?? '/';
      const mark = url.indexOf('?');
      const params = route(mark === -1 ? url : url.slice(0, mark));
      if (params === undefined) throw new WebhookError('route.not.found', 'No webhook is received at this path');
      req.params = params;
    }
    if (req.method !== 'POST') throw new WebhookError('method.not.allowed', 'Only POST is accepted');
    if (state.isClosing()) throw new WebhookError('receiver.closing', 'The receiver is shutting down; retry later');
    if (state.isFull()) throw new WebhookError('queue.full', 'The receiver is overloaded; retry later');
    const bodyType = bodyTypeOf(req.headers['content-type'], provider.bodyTypes);
    const rawBody = await rawBodyOf(req);

    const view = new RequestContext(req);
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
      if (missing !== undefined) state.missingParam(missing);
      throw new WebhookError('unauthorized', 'Authentication failed');
    }

    let body = decodeBody(rawBody, bodyType);
    // Only a multipart form decodes asynchronously: JSON and urlencoded forms skip the await.
    if (body instanceof Promise) body = await body;
    const type = provider.eventType(body, view);
    if (type === undefined) throw new WebhookError('event.type.missing', 'The body does not say which event it is');
    const schema = payloadSchema(provider, type);
    let result = trySafeParse(schema, body);
    if (result === undefined) result = await schema.safeParseAsync(body);
    if (!result.success) {
      const error = payloadInvalid(type, result.error);
      state.invalid({ provider: provider.name, type, error, body, rawBody, headers: headersOf(req) });
      throw error;
    }
    const payload: unknown = result.data;
    const id = provider.dedupeId({ type, payload, rawBody, header: view.header });
    const delivery: Delivery = { id, type, provider: provider.name, payload, receivedAt: new Date() };
    // close() may have started while the body was read: accept nothing after the drain began.
    if (state.isClosing()) throw new WebhookError('receiver.closing', 'The receiver is shutting down; retry later');
    const pending = state.enqueue(delivery, keepRawBody ? { bytes: rawBody, type: bodyType } : undefined);
    const outcome = typeof pending === 'string' ? pending : await pending;
    if (outcome === 'full') throw new WebhookError('queue.full', 'The receiver is overloaded; retry later');
    if (outcome === 'duplicate') {
      state.count('duplicates');
      res.writeHead(200, JSON_HEADERS).end(`{"id":${JSON.stringify(id)},"duplicate":true}`);
      return;
    }
    state.count('accepted');
    res.writeHead(202, JSON_HEADERS).end(`{"id":${JSON.stringify(id)}}`);
  }

  async function rawBodyOf(req: IncomingRequest): Promise<Buffer> {
    // Another middleware may have read the stream already: use its bytes if it kept them.
    if (Buffer.isBuffer(req.rawBody)) return checkLimit(req.rawBody, limit);
    if (typeof req.rawBody === 'string') return checkLimit(Buffer.from(req.rawBody), limit);
    if (Buffer.isBuffer(req.body)) return checkLimit(req.body, limit);
    if (req.body !== undefined || req.readableEnded || (req as { _body?: unknown })._body === true) {
      state.warnAlreadyParsed();
      throw alreadyConsumed();
    }
    return readBody(req, limit, bodyTimeoutMs);
  }

  /** Handles one request; never rejects. With `route`, a request for another path is answered 404. */
  return function pipeline(req: IncomingRequest, res: ServerResponse, route?: RouteMatcher): Promise<void> {
    const deadline = performance.now() + bodyTimeoutMs;
    return handle(req, res, route).catch((error: unknown) => {
      fail(req, res, error instanceof WebhookError ? error : new WebhookError('internal', 'Internal error', { cause: error }), deadline);
    });
  };
}

/** The schema a payload of `type` is validated with: the event's own, or the provider's envelope. */
export function payloadSchema(provider: AnyProvider, type: string): AnyProvider['envelope'] {
  return Object.hasOwn(provider.events, type) ? provider.events[type]! : provider.envelope;
}

/** The `payload.invalid` error for a failed validation: paths, codes and messages, never values. */
export function payloadInvalid(type: string, error: { issues: readonly { path: PropertyKey[]; code: string; message: string }[] }): WebhookError {
  const issues: PayloadIssue[] = error.issues.map((i) => ({ path: i.path, code: i.code, message: i.message }));
  return new WebhookError('payload.invalid', `The ${type} payload does not match its schema`, { issues });
}

function trySafeParse(schema: AnyProvider['envelope'], body: unknown) {
  try {
    return schema.safeParse(body);
  } catch (error) {
    // A schema with async refinements cannot be parsed synchronously: use the async path.
    if ((error as { name?: string }).name === '$ZodAsyncError' || (error as Error).constructor?.name === '$ZodAsyncError') return undefined;
    throw error;
  }
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The request as verifiers and providers see it: one object per request. `header` and `query` are
 * bound, so they can be passed around detached (`const { header } = ctx`).
 */
class RequestContext implements VerifyContext {
  readonly #req: IncomingRequest;
  #query: URLSearchParams | undefined;
  /** The first route parameter read that the request has no value for. */
  #missingParam: string | undefined;
  #params: Readonly<Record<string, string>> | undefined;
  rawBody: Buffer = EMPTY;

  constructor(req: IncomingRequest) {
    this.#req = req;
  }

  get method(): string {
    return this.#req.method ?? 'GET';
  }

  get url(): string {
    return this.#req.url ?? '/';
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

  readonly header = (name: string): string | undefined => {
    const value = this.#req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };

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

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
