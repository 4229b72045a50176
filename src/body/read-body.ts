import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import getRawBody from 'raw-body';
import { WebhookError } from '../errors.ts';

/**
 * Reads the whole request body into one Buffer, inflating `Content-Encoding: gzip | deflate | br`.
 * `limit` applies to the inflated bytes, so a small compressed bomb still answers 413.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    // Fail before reading: raw-body would too, but this also covers compressed bodies.
    throw tooLarge(limit);
  }
  let stream: Readable = req;
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
    req.on('error', (error) => inflate.destroy(error));
    stream = req.pipe(inflate as NodeJS.WritableStream & Readable);
  }
  try {
    return await getRawBody(stream, { limit, length: inflate ? undefined : declared });
  } catch (error) {
    inflate?.destroy();
    if (inflate) req.unpipe();
    throw bodyError(error, limit);
  }
}

/** Applies the size limit to a body another middleware already read. */
export function checkLimit(body: Buffer, limit: number): Buffer {
  if (body.length > limit) throw tooLarge(limit);
  return body;
}

function tooLarge(limit: number): WebhookError {
  return new WebhookError('entity.too.large', `Body exceeds the limit of ${limit} bytes`);
}

function bodyError(error: unknown, limit: number): WebhookError {
  const type = (error as { type?: unknown }).type;
  const code = (error as { code?: unknown }).code;
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
