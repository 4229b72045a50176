/**
 * Every failure scrapehook reports is a {@link WebhookError} with a dotted `type` from a closed union,
 * the HTTP status it answers with (for request errors), and a message that is safe to send to the
 * sender: it never contains secrets, tokens or payload contents.
 */

/** The closed set of error types. Request errors answer with the status in {@link STATUS}. */
export type WebhookErrorType =
  | 'method.not.allowed'
  | 'route.not.found'
  | 'content-type.unsupported'
  | 'charset.unsupported'
  | 'encoding.unsupported'
  | 'encoding.invalid'
  | 'entity.too.large'
  | 'request.aborted'
  | 'body.timeout'
  | 'request.size.invalid'
  | 'body.already.parsed'
  | 'multipart.file.unsupported'
  | 'unauthorized'
  | 'entity.parse.failed'
  | 'event.type.missing'
  | 'payload.invalid'
  | 'queue.full'
  | 'queue.unavailable'
  | 'receiver.closing'
  | 'internal'
  | 'handler.failed'
  | 'handler.timeout';

/** HTTP status per error type (handler errors never reach HTTP; they carry 500 for completeness). */
export const STATUS: Readonly<Record<WebhookErrorType, number>> = {
  'method.not.allowed': 405,
  'route.not.found': 404,
  'content-type.unsupported': 415,
  'charset.unsupported': 415,
  'encoding.unsupported': 415,
  'encoding.invalid': 400,
  'entity.too.large': 413,
  'request.aborted': 400,
  'body.timeout': 408,
  'request.size.invalid': 400,
  'body.already.parsed': 500,
  'multipart.file.unsupported': 415,
  unauthorized: 401,
  'entity.parse.failed': 400,
  'event.type.missing': 400,
  'payload.invalid': 400,
  'queue.full': 503,
  'queue.unavailable': 503,
  'receiver.closing': 503,
  internal: 500,
  'handler.failed': 500,
  'handler.timeout': 500,
};

/** One failing path of a payload, as reported by zod (no input values are included). */
export interface PayloadIssue {
  /** Where in the payload, e.g. `["data", 0, "markdown"]`. */
  path: PropertyKey[];
  /** zod's issue code, e.g. `invalid_type`. */
  code: string;
  /** A readable description that names the expected type, never the received value. */
  message: string;
}

/** Options shared by the error factories. */
export interface WebhookErrorOptions {
  cause?: unknown;
  issues?: PayloadIssue[];
}

/** The error type of everything scrapehook reports. */
export class WebhookError extends Error {
  override readonly name = 'WebhookError';
  /** The dotted error type, stable across versions: switch on this, not on the message. */
  readonly type: WebhookErrorType;
  /** The HTTP status a request failing with this error is answered with. */
  readonly status: number;
  /** For `payload.invalid`: the failing paths. */
  readonly issues?: PayloadIssue[];

  constructor(type: WebhookErrorType, message: string, options: WebhookErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.type = type;
    this.status = STATUS[type];
    if (options.issues) this.issues = options.issues;
  }

  /** The JSON body sent to the sender: `{ error: { code, message, issues? } }`. */
  toJSON(): { error: { code: WebhookErrorType; message: string; issues?: PayloadIssue[] } } {
    const error: { code: WebhookErrorType; message: string; issues?: PayloadIssue[] } = {
      code: this.type,
      message: this.message,
    };
    if (this.issues) error.issues = this.issues;
    return { error };
  }
}

/** True when `value` is a {@link WebhookError} (also across copies of the package). */
export function isWebhookError(value: unknown): value is WebhookError {
  return value instanceof WebhookError;
}
