import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import getRawBody from 'raw-body';
import { WebhookError } from '../errors.ts';

/**
 * Reads the whole request body into one Buffer, inflating `Content-Encoding: gzip | deflate | br`.
 * `limit` applies to the inflated bytes, so a small compressed bomb still answers 413. A body not
 * fully arrived `timeoutMs` after the read began answers 408; what was read is dropped at once.
 * `headers` are `req.headers`, for a caller that holds them already (each `req.headers` read under
 * Express costs a property lookup that misses V8's caches: see NodeIncoming).
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number, headers: IncomingMessage['headers'] = req.headers): Promise<Buffer> {
  const encoding = headers['content-encoding'];
  if (isIdentity(encoding)) return readPlain(req, headers, limit, timeoutMs);
  return readStream(req, encoding, headers['content-length'], limit, timeoutMs);
}

/** Whether a `Content-Encoding` leaves the body as it is: none, empty, or `identity`. */
export function isIdentity(encoding: string | undefined): boolean {
  return encoding === undefined || encoding === '' || encoding.trim().toLowerCase() === 'identity';
}

/**
 * {@link readBody} for a body sent as is, the common case, without raw-body: one promise and four
 * listeners on the request, where raw-body's async wrapper, callbacks and decoder checks cost a few
 * microseconds and allocations per request on the 2 KB acknowledgement path (bench/profile.mjs).
 * Errors are those raw-body gives: 413 over the limit (before reading when the declared length is
 * over it), 400 `request.size.invalid` when fewer bytes than declared arrive, 400 `request.aborted`,
 * 408 `body.timeout`. On an error the request is paused and left to the caller (an early answer
 * discards the rest within bounds).
 */
function readPlain(req: IncomingMessage, headers: IncomingMessage['headers'], limit: number, timeoutMs: number): Promise<Buffer> {
  const declaredHeader = headers['content-length'];
  const declared = declaredHeader === undefined ? undefined : Number(declaredHeader);
  if (declared !== undefined && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    const finish = (error: WebhookError | undefined) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAborted);
      req.off('error', onError);
      if (error === undefined) {
        resolve(more === undefined ? (first ?? EMPTY) : Buffer.concat(more, size));
        return;
      }
      first = more = undefined;
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(tooLarge(limit));
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    };
    const onEnd = () => {
      if (declared !== undefined && size !== declared) {
        return finish(new WebhookError('request.size.invalid', 'The body length does not match Content-Length'));
      }
      finish(undefined);
    };
    const onAborted = () => finish(new WebhookError('request.aborted', 'The request was aborted before its body was read'));
    const onError = (error: Error) => finish(bodyError(error, limit));
    const timer = setTimeout(() => finish(bodyTimeout(timeoutMs)), timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAborted);
    req.on('error', onError);
  });
}

const EMPTY = Buffer.alloc(0);

/**
 * {@link readBody} for any readable stream of the body as sent (a `node:http` request, or a fetch
 * `Request`'s body through `Readable.fromWeb`), given its `Content-Encoding` and `Content-Length`.
 */
export async function readStream(source: Readable, contentEncoding: string | undefined, declared: string | undefined, limit: number, timeoutMs: number): Promise<Buffer> {
  const encoding = (contentEncoding ?? 'identity').trim().toLowerCase();
  if (declared !== undefined && Number(declared) > limit) {
    // Fail before reading: raw-body would too, but this also covers compressed bodies.
    throw tooLarge(limit);
  }
  let stream: Readable = source;
  let inflate: Readable | undefined;
  switch (encoding) {
    case 'identity':
    case '':
      break;
    case 'gzip':
    case 'x-gzip':
      inflate = createGunzip();
      break;
    case 'deflate':
      inflate = createInflate();
      break;
    case 'br':
      inflate = createBrotliDecompress();
      break;
    default:
      throw new WebhookError('encoding.unsupported', 'Content-Encoding must be gzip, deflate, br or identity');
  }
  if (inflate) {
    source.on('error', (error) => inflate.destroy(error));
    stream = source.pipe(inflate as NodeJS.WritableStream & Readable);
  }
  // raw-body takes no signal: an error emitted on the stream it reads makes it drop what it holds,
  // stop listening and pause the request.
  const read = stream;
  const timer = setTimeout(() => read.emit('error', bodyTimeout(timeoutMs)), timeoutMs);
  try {
    return await getRawBody(stream, { limit, length: inflate ? undefined : declared });
  } catch (error) {
    inflate?.destroy();
    if (inflate) source.unpipe();
    throw bodyError(error, limit);
  } finally {
    clearTimeout(timer);
  }
}

function bodyTimeout(timeoutMs: number): WebhookError {
  return new WebhookError('body.timeout', `The body did not arrive within ${timeoutMs} ms`);
}

/** How an early answer treats the rest of a body it did not read. */
export interface DiscardBounds {
  /** The most bytes read and thrown away after the answer. */
  readonly maxBytes: number;
  /** When to stop waiting for the rest, on `performance.now()`'s clock. */
  readonly deadline: number;
}

/**
 * Answers a request whose body was not read to its end (405, 415, 503, 413...) so that a sender
 * still uploading gets the answer rather than a reset connection: the answer is written, the rest
 * of the body is read and thrown away, and the connection is closed once the body has ended. A body
 * that goes on past `maxBytes`, or past the deadline, has its connection closed at once (a sender
 * then may see a reset: the bounds keep a client from holding the connection).
 */
export function answerThenDiscard(req: IncomingMessage, res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string, bounds: DiscardBounds): void {
  const length = Buffer.byteLength(body);
  res.writeHead(status, { ...headers, 'content-length': length, connection: 'close' });
  const remainingMs = bounds.deadline - performance.now();
  const declared = Number(req.headers['content-length']);
  if (req.complete || req.destroyed || remainingMs <= 0 || (Number.isFinite(declared) && declared > bounds.maxBytes)) {
    // Node closes the connection once the answer is written.
    res.end(body);
    return;
  }
  res.write(body);
  let discarded = 0;
  const cleanup = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onAbort);
    res.off('close', cleanup);
  };
  const onAbort = () => {
    cleanup();
    res.destroy();
  };
  const onEnd = () => {
    cleanup();
    res.end();
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > bounds.maxBytes) onAbort();
  };
  const timer = setTimeout(onAbort, remainingMs);
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('error', onAbort);
  res.once('close', cleanup);
  req.resume();
}

/**
 * Reads a fetch `Request`'s body whose length is declared and within the limit and which is not
 * compressed, in one call (`request.arrayBuffer()`). Runtimes read such a body natively, and
 * @hono/node-server straight from the socket, where streaming it builds a full undici `Request`, an
 * `AbortSignal`, a web stream and its adapter to a Node stream: measured under Hono at 2 KB, that
 * was 4 to 5 times the CPU of the whole request. The HTTP layer delivers no more than the declared
 * length, so the limit holds while reading; it is checked again on what arrived.
 */
export function readDeclared(request: Request, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(bodyTimeout(timeoutMs)), timeoutMs);
    request.arrayBuffer().then(
      (bytes) => {
        clearTimeout(timer);
        try {
          resolve(checkLimit(Buffer.from(bytes), limit));
        } catch (error) {
          reject(error);
        }
      },
      (error: unknown) => {
        clearTimeout(timer);
        // A body already used is a TypeError by the Fetch standard; anything else is the sender
        // going away mid-body (the runtimes word it differently).
        reject(
          error instanceof TypeError
            ? alreadyConsumed(error)
            : new WebhookError('request.aborted', 'The request was aborted before its body was read', { cause: error }),
        );
      },
    );
  });
}

/** Applies the size limit to a body another middleware already read. */
export function checkLimit(body: Buffer, limit: number): Buffer {
  if (body.length > limit) throw tooLarge(limit);
  return body;
}

export function tooLarge(limit: number): WebhookError {
  return new WebhookError('entity.too.large', `Body exceeds the limit of ${limit} bytes`);
}

function bodyError(error: unknown, limit: number): WebhookError {
  const type = (error as { type?: unknown }).type;
  const code = (error as { code?: unknown }).code;
  if (error instanceof WebhookError) return error;
  switch (type) {
    case 'entity.too.large':
      return tooLarge(limit);
    case 'request.aborted':
      return new WebhookError('request.aborted', 'The request was aborted before its body was read', { cause: error });
    case 'request.size.invalid':
      return new WebhookError('request.size.invalid', 'The body length does not match Content-Length', { cause: error });
    case 'stream.not.readable':
      return alreadyConsumed(error);
  }
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new WebhookError('encoding.invalid', 'The body could not be inflated as its Content-Encoding says', { cause: error });
  }
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new WebhookError('request.aborted', 'The request was aborted before its body was read', { cause: error });
  }
  return new WebhookError('internal', 'The body could not be read', { cause: error });
}

/** The sentence a user sees when a body parser ran before scrapehook. */
export const ALREADY_PARSED_MESSAGE =
  'The request body was already consumed by another body parser (such as app.use(express.json())) ' +
  'before scrapehook could read the raw bytes it needs to verify signatures: mount hooks.middleware() ' +
  'on its route before any body parser, e.g. app.all("/webhooks", hooks.middleware()), or keep the raw ' +
  'bytes with express.raw() or express.json({ verify: (req, res, buf) => { req.rawBody = buf } }).';

export function alreadyConsumed(cause?: unknown): WebhookError {
  return new WebhookError('body.already.parsed', ALREADY_PARSED_MESSAGE, cause === undefined ? {} : { cause });
}
