// What every provider's test builder shares: the delivery type, body and token placement, HMAC
// signing. Each provider's own builder and samples live next to it (src/providers/<p>/testing.ts).
import { createHmac } from 'node:crypto';

/** A request ready to send: what the sender would put on the wire. */
export interface TestDelivery {
  /** Always `POST`. */
  readonly method: 'POST';
  /** Path and query, e.g. `/webhooks/apify/<token>`. */
  readonly path: string;
  /** Lower-case header names: content type, signature or token, and the sender's own headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The exact body bytes (signatures are computed over these). */
  readonly body: Buffer;
}

/** A JSON body: an object (serialised with `JSON.stringify`), or exact text or bytes. */
export type TestBody = Record<string, unknown> | string | Uint8Array;

/** Options every builder takes. */
export interface DeliveryOptions {
  /** Where the delivery is posted. Each builder has a default, e.g. `/webhooks/firecrawl`. */
  path?: string;
  /** Headers to add or replace (lower-case names). */
  headers?: Record<string, string>;
  /** Fields merged over the sample body (shallowly), e.g. `{ metadata: { run: 'nightly' } }`. */
  payload?: Record<string, unknown>;
  /** The whole body instead of a sample (`type` and `payload` are then ignored). */
  body?: TestBody;
}

/**
 * How a token reaches the receiver: a route parameter (appended to the path), `?token=`, or
 * `Authorization: Bearer`. A route parameter needs a route that names it: `app.all('/webhooks/apify/:token', ...)`
 * or `nodeHandler({ path: '/webhooks/apify/:token' })`; a bare `nodeHandler()` has no route parameters.
 */
export type TokenPlacement = 'param' | 'query' | 'header';

/** Options of `apifyDelivery` and `thordataDelivery`. */
export interface TemplateDeliveryOptions<T extends string> extends DeliveryOptions {
  /** The secret token of your webhook URL (or headers template). */
  token: string;
  /** The event type of the sample body. */
  type?: T;
  /**
   * Where the token goes.
   * @default 'param'
   */
  tokenIn?: TokenPlacement;
}

export function bytesOf(body: TestBody): Buffer {
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body));
}

/** The path with the token placed as `placement` says (a header placement sets `headers.authorization`). */
export function tokenPlaced(path: string, token: string, placement: TokenPlacement, headers: Record<string, string>): string {
  if (placement === 'param') return `${path.replace(/\/$/, '')}/${encodeURIComponent(token)}`;
  if (placement === 'query') return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  headers.authorization = `Bearer ${token}`;
  return path;
}

/** Options of {@link signHmac}, matching those of `hmacSignature()`. */
export interface SignHmacOptions {
  /** @default 'sha256=' */
  prefix?: string;
  /** @default 'sha256' */
  algorithm?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /** @default 'hex' */
  encoding?: 'hex' | 'base64' | 'base64url';
}

/**
 * A signature header value for a sender that signs the raw body with an HMAC, as `hmacSignature()`
 * verifies it: for your own `defineProvider` senders.
 *
 * @example
 * ```ts
 * signHmac(body, secret) // 'sha256=5d6f…'
 * ```
 */
export function signHmac(body: string | Uint8Array, secret: string | Uint8Array, options: SignHmacOptions = {}): string {
  const mac = createHmac(options.algorithm ?? 'sha256', secret).update(body).digest(options.encoding ?? 'hex');
  return `${options.prefix ?? 'sha256='}${mac}`;
}
