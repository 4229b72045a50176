import { isAscii, isUtf8, transcode } from 'node:buffer';
import { WebhookError } from '../errors.ts';
import type { BodyType, Delivery, ReceivedBody, ReceivedBodyType } from '../types.ts';
import { decodeMultipart, isMultipartType, multipartFieldsForDisplay, multipartType } from './multipart.ts';

/**
 * Picks the body type from `Content-Type` among those the provider sends. No header means the
 * provider's first type; a type it does not send answers 415, and so does a charset other than UTF-8.
 * A `multipart/form-data` form (for a provider sending `'form'`) is typed with its boundary.
 */
export function bodyTypeOf(contentType: string | undefined, accepted: readonly BodyType[]): ReceivedBodyType {
  if (contentType === undefined || contentType === '') return accepted[0] ?? 'json';
  const semicolon = contentType.indexOf(';');
  const mime = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  let type: BodyType | undefined;
  if (mime === 'application/json' || (mime.startsWith('application/') && mime.endsWith('+json'))) type = 'json';
  else if (mime === 'application/x-www-form-urlencoded' || mime === 'multipart/form-data') type = 'form';
  if (type === undefined || !accepted.includes(type)) {
    throw new WebhookError(
      'content-type.unsupported',
      `Content-Type must be ${accepted.map((t) => (t === 'json' ? 'application/json' : 'application/x-www-form-urlencoded or multipart/form-data')).join(' or ')}`,
    );
  }
  if (semicolon !== -1) {
    const charset = /charset\s*=\s*"?([\w-]+)"?/i.exec(contentType.slice(semicolon))?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
      throw new WebhookError('charset.unsupported', 'The body charset must be UTF-8');
    }
  }
  if (mime === 'multipart/form-data') return multipartType(semicolon === -1 ? '' : contentType.slice(semicolon));
  return type;
}

/**
 * Decodes the raw body as the given type into plain data (not yet validated): synchronously for
 * JSON and a urlencoded form, as a promise for a multipart form.
 */
export function decodeBody(raw: Buffer, type: ReceivedBodyType): unknown {
  if (type === 'json') return decodeJson(raw);
  if (type === 'form') return decodeForm(raw);
  if (isMultipartType(type)) return decodeMultipart(raw, type);
  throw new WebhookError('internal', 'A kept body has an unknown type');
}

/** A body kept as received, decoded but not validated; `undefined` when it does not decode (for display). */
export function decodedOrUndefined(body: ReceivedBody): unknown {
  try {
    if (isMultipartType(body.type)) return multipartFieldsForDisplay(body.bytes, body.type);
    return decodeBody(body.bytes, body.type);
  } catch {
    return undefined;
  }
}

/**
 * The payload a dead letter kept as its body shows: validated again by `revive` (the schema's
 * output, as handlers would get it) when that passes, or else only decoded.
 */
export async function shownPayload(
  delivery: Delivery,
  body: ReceivedBody,
  revive: (delivery: Delivery, body: ReceivedBody) => Promise<Delivery>,
): Promise<unknown> {
  try {
    return (await revive(delivery, body)).payload;
  } catch {
    return decodedOrUndefined(body);
  }
}

/** Parses a JSON body; a syntax error answers 400 without echoing any of the body. */
export function decodeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(utf8(raw));
  } catch (error) {
    throw new WebhookError('entity.parse.failed', 'The body is not valid JSON', { cause: error });
  }
}

/**
 * Parses an `application/x-www-form-urlencoded` body into a flat object of strings with no
 * prototype (so `__proto__=` is an ordinary field). Nested keys such as `a[b]` stay flat; a field
 * sent twice is ambiguous and answers 400.
 */
export function decodeForm(raw: Buffer): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  for (const [key, value] of new URLSearchParams(utf8(raw))) {
    if (Object.hasOwn(fields, key)) {
      throw new WebhookError('entity.parse.failed', 'The form body repeats a field');
    }
    fields[key] = value;
  }
  return fields;
}

/**
 * How UTF-8 bodies are decoded, chosen once by the running Node. Up to Node 22, V8's UTF-8 decoder
 * (`Buffer#toString`) is slow on text with scattered non-ASCII characters, and ICU's transcoder
 * followed by a UTF-16 copy is faster; Node 24 moved `toString` onto simdutf, and the transcoder
 * became the slower path. Measured on scraped markdown (bench/payloads.mjs), per body:
 *
 * | Node | 2 KB toString | 2 KB transcode | 256 KB toString | 256 KB transcode |
 * |------|---------------|----------------|-----------------|------------------|
 * | 20   | 3.1 µs        | 1.8 µs         | 782 µs          | 454 µs           |
 * | 22   | 4.0 µs        | 1.6 µs         | 787 µs          | 545 µs           |
 * | 24   | 1.3 µs        | 3.6 µs         | 499 µs          | 564 µs           |
 * | 26   | 1.0 µs        | 1.8 µs         | 58 µs           | 90 µs            |
 *
 * Both paths decode to the same string: the transcoder only sees valid UTF-8 (invalid bytes take
 * `toString`, which replaces them with U+FFFD).
 */
export const UTF8_DECODER: 'transcode' | 'toString' = typeof transcode === 'function' && Number.parseInt(process.versions.node, 10) < 24 ? 'transcode' : 'toString';

// Below this size the transcoder's set-up and the validity scan are not repaid.
const SMALL = 1024;
let transcodes = UTF8_DECODER === 'transcode';

/** Decodes UTF-8 bytes, dropping a byte-order mark, on the faster path for this Node. */
export function utf8(raw: Buffer): string {
  return decodeUtf8(raw, transcodes);
}

/** `utf8()` on a given path: both must decode alike (tested), whichever this Node prefers. */
export function decodeUtf8(raw: Buffer, viaTranscode: boolean): string {
  let start = 0;
  if (raw.length >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf) start = 3;
  if (viaTranscode && raw.length - start > SMALL && !isAscii(raw) && isUtf8(raw)) {
    try {
      return transcode(start === 0 ? raw : raw.subarray(start), 'utf8', 'utf16le').toString('utf16le');
    } catch {
      // A Node built without ICU has no transcoder: use V8's decoder from now on.
      transcodes = false;
    }
  }
  return raw.toString('utf8', start);
}
