import busboy from 'busboy';
import { WebhookError } from '../errors.ts';
import type { ReceivedBodyType } from '../types.ts';

/**
 * Bounds on a `multipart/form-data` body, besides the receiver's `limit` on the whole body: a
 * webhook sends a handful of short fields, never thousands or megabytes of them. A body past a
 * bound is refused with 413 rather than cut short.
 */
export const MULTIPART_LIMITS = {
  /** Fields per body. */
  fields: 1000,
  /** Bytes per field name. */
  fieldNameSize: 200,
  /** Bytes per field value. */
  fieldSize: 1024 * 1024,
} as const;

/** The media type a multipart body is kept with: it carries the boundary needed to decode it again. */
export type MultipartType = Extract<ReceivedBodyType, `multipart/${string}`>;

// RFC 2046 §5.1.1: 1 to 70 of these characters, the last not a space.
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * The `multipart/form-data` type to keep a body with, from its `Content-Type` parameters (the part
 * after the first `;`); a missing or malformed boundary answers 400.
 */
export function multipartType(parameters: string): MultipartType {
  const match = /(?:^|;)\s*boundary\s*=\s*(?:"([^"]*)"|([^\s;]*))/i.exec(parameters);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined || !BOUNDARY.test(boundary)) {
    throw new WebhookError('entity.parse.failed', 'A multipart/form-data body needs a valid boundary parameter in its Content-Type');
  }
  return `multipart/form-data; boundary="${boundary}"`;
}

export function isMultipartType(type: string): type is MultipartType {
  return type.startsWith('multipart/form-data;');
}

/**
 * Parses a `multipart/form-data` body that holds fields only into a flat object of strings with no
 * prototype, by the rules of a urlencoded form: a field sent twice answers 400. A file part answers
 * 415 (`multipart.file.unsupported`); a body past {@link MULTIPART_LIMITS} answers 413.
 */
export function decodeMultipart(raw: Buffer, type: MultipartType): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const parsing = parse(raw, type);
    if (parsing.failure) {
      reject(parsing.failure);
      return;
    }
    // The parser reports a truncated or malformed body only once it has finished.
    parsing.parser!.once('error', (error: unknown) => reject(parsing.failure ?? malformed(error)));
    parsing.parser!.once('finish', () => (parsing.failure ? reject(parsing.failure) : resolve(parsing.fields)));
  });
}

/**
 * The fields of a multipart body, parsed synchronously for display (the CLI): `undefined` when
 * the body breaks a rule. A truncated body may show the fields before the cut.
 */
export function multipartFieldsForDisplay(raw: Buffer, type: MultipartType): Record<string, string> | undefined {
  const parsing = parse(raw, type);
  return parsing.failure || parsing.parser?.errored ? undefined : parsing.fields;
}

interface Parsing {
  parser?: busboy.Busboy;
  fields: Record<string, string>;
  failure?: WebhookError;
}

function parse(raw: Buffer, type: MultipartType): Parsing {
  const parsing: Parsing = { fields: Object.create(null) as Record<string, string> };
  const fail = (error: WebhookError) => {
    parsing.failure ??= error;
  };
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': type },
      defCharset: 'utf8',
      defParamCharset: 'utf8',
      // files: 0 turns every file part into 'filesLimit', without opening a stream for it.
      limits: { ...MULTIPART_LIMITS, files: 0 },
    });
  } catch (error) {
    fail(malformed(error));
    return parsing;
  }
  parsing.parser = parser;
  parser.on('field', (name, value, info) => {
    if (info.nameTruncated || info.valueTruncated) {
      fail(new WebhookError('entity.too.large', `A multipart field exceeds ${info.nameTruncated ? MULTIPART_LIMITS.fieldNameSize : MULTIPART_LIMITS.fieldSize} bytes`));
    } else if (Object.hasOwn(parsing.fields, name)) {
      fail(new WebhookError('entity.parse.failed', 'The form body repeats a field'));
    } else {
      parsing.fields[name] = value;
    }
  });
  parser.on('fieldsLimit', () => fail(new WebhookError('entity.too.large', `A multipart body may hold at most ${MULTIPART_LIMITS.fields} fields`)));
  parser.on('filesLimit', () => fail(new WebhookError('multipart.file.unsupported', 'A multipart body may hold fields only, not files')));
  // Keep the 'error' of a synchronous parse from being unhandled; decodeMultipart listens too.
  parser.on('error', () => undefined);
  parser.end(raw);
  return parsing;
}

function malformed(cause: unknown): WebhookError {
  return new WebhookError('entity.parse.failed', 'The body is not a valid multipart/form-data body', { cause });
}
