/**
 * The shared core of the data-API mocks: an HTTP server on 127.0.0.1 with a small router, request
 * recording, fault injection per route and request count, and bodies streamed from rows that may be
 * generated lazily (so a mock can serve a gigabyte without holding it).
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { positiveInteger } from '../../check-options.ts';

/**
 * Rows a mock serves: an array, or a count and a function that builds row `index` when it is
 * streamed (nothing is kept in memory, so a huge file costs no memory).
 *
 * @example
 * ```ts
 * [{ title: 'a' }, { title: 'b' }]
 * { count: 5_000_000, row: (i) => ({ title: `item ${i}` }) }
 * ```
 */
export type MockRows<T> = readonly T[] | { readonly count: number; row(index: number): T };

/** Rows that can grow: the given rows, then those appended with `push`. */
export class RowStore<T> {
  readonly #base: MockRows<T>;
  readonly #extra: T[] = [];
  constructor(rows: MockRows<T> = []) {
    this.#base = rows; // never copied nor changed: `push` appends to a list of its own
  }
  get #baseCount(): number {
    return Array.isArray(this.#base) ? this.#base.length : (this.#base as { count: number }).count;
  }
  get length(): number {
    return this.#baseCount + this.#extra.length;
  }
  at(index: number): T {
    const base = this.#baseCount;
    if (index >= base) return this.#extra[index - base] as T;
    return Array.isArray(this.#base) ? (this.#base[index] as T) : (this.#base as { row(i: number): T }).row(index);
  }
  push(...rows: T[]): void {
    this.#extra.push(...rows);
  }
  /** Rows `start` (inclusive) to `end` (exclusive), built one at a time. */
  *slice(start = 0, end = this.length): Generator<T> {
    for (let i = start; i < end; i++) yield this.at(i);
  }
}

/**
 * A fault injected in the answers of a mock, on every request matching `path` and `method`, or on
 * the `requests`-th ones only.
 *
 * - `status`: answer with this status and the provider's error body instead (with `Retry-After:
 *   retryAfter` when given; the route's work, e.g. a delete, is not done).
 * - `truncate`: declare the full `Content-Length`, send `at` bytes (default half), close the
 *   socket; with `chunked: true`, send them chunked and close without the final chunk, or end the
 *   response cleanly when `graceful: true` (a well-formed but short body).
 * - `stall`: send `at` bytes (default half) and then nothing, until the client or `close()` ends it.
 *
 * BodyFault bodies are built in memory first: use `truncate` and `stall` on modest bodies.
 *
 * @example
 * ```ts
 * { path: '/json', requests: 1, fault: { kind: 'truncate' } }
 * { path: /\/items$/, requests: [2, 3], fault: { kind: 'status', status: 429, retryAfter: 1 } }
 * ```
 */
export interface MockFault<Extra extends { kind: string } = never> {
  /**
   * Which requests: the path (`/v2/datasets/d1/items`), a path ending (`'/json'`), or a pattern.
   * @default every path
   */
  path?: string | RegExp;
  /**
   * Which method (upper case).
   * @default every method
   */
  method?: string;
  /**
   * Which of the matching requests, counted from 1: `2` is the second, `[1, 2]` the first two.
   * @default every matching request
   */
  requests?: number | readonly number[];
  /** What goes wrong. */
  fault: StatusFault | BodyFault | Extra;
}

/** An error status instead of the route's answer. */
export interface StatusFault {
  kind: 'status';
  /** 400–599. */
  status: number;
  /** Seconds, sent as `Retry-After`. @default none */
  retryAfter?: number;
  /** The error message in the provider's error body. @default the provider's usual text */
  message?: string;
}

/**
 * A body cut short (`truncate`) or left hanging (`stall`) after `at` bytes (default half the body).
 * `truncate` declares the full `Content-Length` and closes the socket; with `chunked: true` it sends
 * chunks and closes without the final one, or, with `graceful: true` too, ends a well-formed short body.
 */
export type BodyFault = { kind: 'truncate'; at?: number; chunked?: boolean; graceful?: boolean } | { kind: 'stall'; at?: number };

const isCut = (fault: { kind: string }): fault is BodyFault => fault.kind === 'truncate' || fault.kind === 'stall';

/** One request a mock received, as it arrived. */
export interface RecordedRequest {
  /** e.g. `GET`. */
  readonly method: string;
  /** The path without the query, e.g. `/api/v1/scraping-job/7/json`. */
  readonly path: string;
  /** The path with the query, exactly as sent. */
  readonly url: string;
  /** The query parameters (the last value of a repeated name). */
  readonly query: Readonly<Record<string, string>>;
  /** The request headers (lower-case names). */
  readonly headers: Readonly<http.IncomingHttpHeaders>;
  /** The request body as text (empty when none). */
  readonly body: string;
}

/** What every mock resolves to. */
export interface MockServer {
  /** The origin the mock listens on, e.g. `http://127.0.0.1:53412`. */
  readonly url: string;
  /** Every request received so far, in order. */
  readonly requests: RecordedRequest[];
  /**
   * The recorded requests whose URL, headers or body contain `text`: where a secret went.
   *
   * @example
   * ```ts
   * expect(mock.requestsWith(token).map((r) => r.path)).toEqual(['/api/v1/scraping-job/7/json']);
   * ```
   */
  requestsWith(text: string): RecordedRequest[];
  /** Stops the server, ending open (and stalled) responses. */
  close(): Promise<void>;
}

/** A request as a route handler sees it. */
export interface MockRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The route pattern's named groups. */
  readonly params: Readonly<Record<string, string>>;
  /** `http://` and the Host header, as a server builds absolute links. */
  readonly origin: string;
}

/** A response: `body` may be text, bytes, or chunks produced as the client reads them. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | Iterable<string>;
  /** Compress with gzip when the request accepts it. */
  gzip?: boolean;
}

/** A route of a mock. `public` routes skip `authorize`. */
export interface Route {
  methods: readonly string[];
  pattern: RegExp;
  public?: boolean;
  handle(req: MockRequest): Reply;
}

/** How a provider's mock plugs into the core. */
export interface MockDefinition<Extra extends { kind: string }> {
  routes: Route[];
  faults?: readonly MockFault<Extra>[] | undefined;
  /** The provider's error answer for a status (`retryAfter` when a fault gave one). */
  error(status: number, message?: string, retryAfter?: number): Reply;
  /** The answer for a provider-specific fault kind. */
  customFault?(fault: Extra, req: MockRequest): Reply;
  /** An error answer for a request that is not authorized, else `undefined`. */
  authorize?(req: MockRequest): Reply | undefined;
  /** Headers added to every routed answer (e.g. rate-limit headers). */
  decorate?(req: MockRequest, reply: Reply): Reply;
}

/** A JSON answer. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

/** Joins small strings into chunks of about `size` characters, lazily. */
export function* chunks(parts: Iterable<string>, size = 64 * 1024): Generator<string> {
  let buffer = '';
  for (const part of parts) {
    buffer += part;
    if (buffer.length >= size) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer) yield buffer;
}

/** A CSV value, quoted as RFC 4180 says (always when `always`); `null` and `undefined` become `null`. */
export function csvValue(value: unknown, always: boolean): string {
  const text = value === null || value === undefined ? 'null' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return always || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV text: an optional BOM, a header row, then one CRLF-terminated line per row, lazily. */
export function* csvLines<T extends Record<string, unknown>>(rows: Iterable<T>, columns: readonly string[], options: { bom: boolean; quoteValues: boolean }): Generator<string> {
  yield `${options.bom ? '\uFEFF' : ''}${columns.map((c) => csvValue(c, false)).join(',')}\r\n`;
  for (const row of rows) yield `${columns.map((c) => csvValue(row[c], options.quoteValues)).join(',')}\r\n`;
}

function* jsonArrayParts(rows: Iterable<unknown>): Generator<string> {
  yield '[';
  let first = true;
  for (const row of rows) {
    yield (first ? '' : ',\n') + JSON.stringify(row);
    first = false;
  }
  yield ']';
}

/** A JSON array streamed row by row. */
export function jsonArray(rows: Iterable<unknown>): Generator<string> {
  return chunks(jsonArrayParts(rows));
}

/** JSON Lines streamed row by row: each row on one `\n`-terminated line (newlines in strings stay escaped). */
export function jsonLines(rows: Iterable<unknown>): Generator<string> {
  return chunks((function* () {
    for (const row of rows) yield `${JSON.stringify(row)}\n`;
  })());
}

/** A whole number from a query value, or `fallback` when absent; `NaN` when malformed. */
export function intParam(value: string | null, fallback: number): number {
  if (value === null || value === '') return fallback;
  return /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
}

/** `1` or `true` (as clients send booleans). */
export function boolParam(value: string | null): boolean {
  return value === '1' || value === 'true';
}

function matches<E extends { kind: string }>(fault: MockFault<E>, method: string, path: string): boolean {
  if (fault.method !== undefined && fault.method.toUpperCase() !== method) return false;
  if (fault.path === undefined) return true;
  if (typeof fault.path === 'string') return path === fault.path || path.endsWith(fault.path);
  return fault.path.test(path);
}

function fires<E extends { kind: string }>(entry: { fault: MockFault<E>; seen: number }): boolean {
  entry.seen += 1;
  const which = entry.fault.requests;
  return which === undefined || (typeof which === 'number' ? [which] : which).includes(entry.seen);
}

function bodyBuffer(body: Reply['body']): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string' || Buffer.isBuffer(body)) return Buffer.from(body);
  return Buffer.from([...body].join(''));
}

function sendCut(res: http.ServerResponse, reply: Reply, bytes: Buffer, fault: BodyFault): void {
  const at = Math.min(fault.at ?? Math.floor(bytes.length / 2), bytes.length);
  const chunked = fault.kind === 'truncate' && fault.chunked === true;
  res.writeHead(reply.status, { ...reply.headers, ...(chunked ? {} : { 'content-length': String(bytes.length) }) });
  if (fault.kind === 'stall') {
    res.write(bytes.subarray(0, at));
    return; // nothing more until the client or close() ends the socket
  }
  if (fault.kind === 'truncate' && chunked && fault.graceful) {
    res.end(bytes.subarray(0, at));
    return;
  }
  res.write(bytes.subarray(0, at), () => res.socket?.destroy());
}

function send(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply, cut?: BodyFault): void {
  const gzip = reply.gzip === true && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const headers = { ...reply.headers, ...(gzip ? { 'content-encoding': 'gzip' } : {}) };
  if (cut) {
    const raw = bodyBuffer(reply.body);
    sendCut(res, { ...reply, headers }, gzip ? gzipSync(raw) : raw, cut);
    return;
  }
  const body = reply.body;
  if (req.method === 'HEAD' || body === undefined) {
    res.writeHead(reply.status, headers).end();
  } else if (!gzip && (typeof body === 'string' || Buffer.isBuffer(body))) {
    res.writeHead(reply.status, { ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
  } else {
    res.writeHead(reply.status, headers);
    const source = Readable.from(typeof body === 'string' || Buffer.isBuffer(body) ? [body] : body, { objectMode: false });
    const done = (): void => undefined; // a client that goes away ends the stream; nothing to report
    if (gzip) pipeline(source, createGzip(), res, done);
    else pipeline(source, res, done);
  }
}

/** Checks the faults and the uniqueness of ids, or throws a TypeError naming what is wrong. */
export function checkMockOptions<E extends { kind: string }>(faults: readonly MockFault<E>[] | undefined, ids: readonly (string | number)[], what: string): void {
  for (const { requests, fault } of faults ?? []) {
    for (const n of requests === undefined ? [] : typeof requests === 'number' ? [requests] : requests) positiveInteger('faults[].requests', n);
    const status = fault.kind === 'status' ? (fault as StatusFault).status : 400;
    if (!(Number.isInteger(status) && status >= 400 && status <= 599)) {
      throw new TypeError(`Expected \`faults[].fault.status\` to be an HTTP error status (400-599), got ${String(status)}`);
    }
  }
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(String(id))) throw new TypeError(`Expected unique ${what} ids, got ${JSON.stringify(id)} twice`);
    seen.add(String(id));
  }
}

function statusReply<E extends { kind: string }>(definition: MockDefinition<E>, fault: StatusFault): Reply {
  const reply = definition.error(fault.status, fault.message, fault.retryAfter);
  return fault.retryAfter === undefined ? reply : { ...reply, headers: { ...reply.headers, 'retry-after': String(fault.retryAfter) } };
}

/** Starts a mock on 127.0.0.1, an ephemeral port. */
export async function startMock<Extra extends { kind: string }>(definition: MockDefinition<Extra>): Promise<MockServer> {
  const requests: RecordedRequest[] = [];
  const faults = (definition.faults ?? []).map((fault) => ({ fault, seen: 0 }));
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://mock');
      const method = req.method ?? 'GET';
      const body = Buffer.concat(parts).toString('utf8');
      requests.push({ method, path: url.pathname, url: req.url ?? '/', query: Object.fromEntries(url.searchParams), headers: req.headers, body });
      const base = { method, path: url.pathname, query: url.searchParams, headers: req.headers, body, origin: `http://${req.headers.host ?? 'localhost'}` };
      const found = definition.routes.map((route) => ({ route, m: route.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
      const hit = found.find((x) => x.route.methods.includes(method));
      if (!hit) {
        send(req, res, found.length ? definition.error(405, `Method ${method} not allowed`) : definition.error(404, 'Not found'));
        return;
      }
      const mreq: MockRequest = { ...base, params: { ...hit.m!.groups } };
      // Every matching fault counts the request; an error status answers at once (the route's work
      // is not done), a body fault cuts the route's successful answer.
      const firing = faults.filter((entry) => matches(entry.fault, method, url.pathname) && fires(entry)).map((entry) => entry.fault.fault);
      const cut = firing.find(isCut);
      const early = firing.find((fault) => !isCut(fault));
      if (early) {
        send(req, res, early.kind === 'status' ? statusReply(definition, early as StatusFault) : definition.customFault!(early as Extra, mreq));
        return;
      }
      let reply = (!hit.route.public && definition.authorize?.(mreq)) || undefined;
      try {
        reply ??= hit.route.handle(mreq);
      } catch (error) {
        reply = definition.error(500, error instanceof Error ? error.message : String(error));
      }
      send(req, res, definition.decorate ? definition.decorate(mreq, reply) : reply, reply.status < 300 ? cut : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsWith: (text) => requests.filter((r) => r.url.includes(text) || r.body.includes(text) || JSON.stringify(r.headers).includes(text)),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
