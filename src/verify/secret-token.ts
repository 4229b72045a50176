import type { Verifier } from '../types.ts';
import { secretList } from './secrets.ts';
import { secretsEqual } from './timing-safe-equal.ts';

/** Options of {@link secretToken}: where the token is read from (one or more places). */
export interface SecretTokenOptions {
  /** The expected token. */
  token?: string;
  /** Several accepted tokens: for rotation. */
  tokens?: readonly string[];
  /** A route parameter holding the token, e.g. `token` for `app.all('/hooks/:token', ...)` (Express). */
  param?: string;
  /** A query parameter holding the token, e.g. `token` for `/hooks?token=...`. */
  query?: string;
  /** A header holding the token, e.g. `authorization` or `x-webhook-token`. */
  header?: string;
  /**
   * An authentication scheme the header value starts with, e.g. `Bearer`.
   * @default 'Bearer' for the `authorization` header, none for other headers
   */
  scheme?: string;
}

/**
 * Authenticates a request by a secret token in the URL (route or query parameter) or a header,
 * compared in constant time. When several places are named, a match in any of them is enough.
 * Tokens in URLs are redacted wherever scrapehook logs a URL.
 *
 * @example
 * ```ts
 * secretToken({ token: process.env.APIFY_WEBHOOK_TOKEN, param: 'token', query: 'token' })
 * secretToken({ token: process.env.APIFY_WEBHOOK_TOKEN, header: 'authorization' }) // Bearer <token>
 * ```
 * @throws {TypeError} when no token, or no place to read it from, is given.
 */
export function secretToken(options: SecretTokenOptions): Verifier {
  const tokens = secretList('token', options.token, options.tokens);
  const { param, query } = options;
  const header = options.header?.toLowerCase();
  if (param === undefined && query === undefined && header === undefined) {
    throw new TypeError('Expected one of `param`, `query` or `header` to say where the token is, got none');
  }
  const scheme = (options.scheme ?? (header === 'authorization' ? 'Bearer' : '')).toLowerCase();

  const matches = (candidate: string | undefined): boolean => {
    if (candidate === undefined || candidate === '') return false;
    let valid = false;
    for (const token of tokens) if (secretsEqual(candidate, token)) valid = true;
    return valid;
  };

  return function verifySecretToken(ctx) {
    if (param !== undefined && matches(ctx.params[param])) return true;
    if (query !== undefined && matches(ctx.query(query))) return true;
    if (header !== undefined) {
      let value = ctx.header(header)?.trim();
      if (value !== undefined && scheme !== '') {
        const space = value.indexOf(' ');
        value = space > 0 && value.slice(0, space).toLowerCase() === scheme ? value.slice(space + 1).trim() : undefined;
      }
      if (matches(value)) return true;
    }
    return false;
  };
}
