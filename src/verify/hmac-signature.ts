import { createHmac } from 'node:crypto';
import type { Verifier, VerifyContext } from '../types.ts';
import { secretList } from './secrets.ts';
import { bytesEqual } from './timing-safe-equal.ts';

/** Options of {@link hmacSignature}. */
export interface HmacSignatureOptions {
  /** The shared secret, used as the HMAC key (a string is taken as UTF-8 bytes). */
  secret?: string | Uint8Array;
  /** Several secrets, any of which may have signed the request: for rotation. */
  secrets?: readonly (string | Uint8Array)[];
  /** The header carrying the signature, e.g. `x-firecrawl-signature` (case-insensitive). */
  header: string;
  /**
   * Text before the signature in the header, e.g. `sha256=` (compared case-insensitively).
   * @default ''
   */
  prefix?: string;
  /**
   * How the signature is written.
   * @default 'hex'
   */
  encoding?: 'hex' | 'base64' | 'base64url';
  /**
   * The HMAC hash.
   * @default 'sha256'
   */
  algorithm?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /**
   * The bytes that are signed.
   * @default the raw body
   */
  signedContent?: (ctx: VerifyContext) => Uint8Array | string | undefined;
}

const DIGEST_BYTES = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 } as const;

/**
 * Authenticates a request by an HMAC of its raw body bytes carried in a header, compared in
 * constant time. Several secrets may be given for rotation.
 *
 * @example
 * ```ts
 * hmacSignature({ secret: process.env.FIRECRAWL_WEBHOOK_SECRET, header: 'x-firecrawl-signature', prefix: 'sha256=' })
 * ```
 * @throws {TypeError} when no secret or no header is given.
 */
export function hmacSignature(options: HmacSignatureOptions): Verifier {
  const secrets = secretList('secret', options.secret, options.secrets);
  if (typeof options.header !== 'string' || options.header === '') {
    throw new TypeError(`Expected \`header\` to be a header name, got ${typeof options.header}`);
  }
  const header = options.header.toLowerCase();
  const prefix = (options.prefix ?? '').toLowerCase();
  const encoding = options.encoding ?? 'hex';
  const algorithm = options.algorithm ?? 'sha256';
  const digestBytes = DIGEST_BYTES[algorithm];
  if (digestBytes === undefined) throw new TypeError(`Expected \`algorithm\` to be sha1, sha256, sha384 or sha512, got ${String(algorithm)}`);
  const signedContent = options.signedContent ?? ((ctx: VerifyContext) => ctx.rawBody);

  return function verifyHmacSignature(ctx) {
    const value = ctx.header(header);
    if (value === undefined) return false;
    const signature = decodeSignature(value.trim(), prefix, encoding, digestBytes);
    if (signature === undefined) return false;
    const content = signedContent(ctx);
    if (content === undefined) return false;
    let valid = false;
    for (const secret of secrets) {
      // No early exit: every secret is tried, so timing does not tell which one matched.
      if (bytesEqual(createHmac(algorithm, secret).update(content).digest(), signature)) valid = true;
    }
    return valid;
  };
}

function decodeSignature(value: string, prefix: string, encoding: string, digestBytes: number): Buffer | undefined {
  if (prefix !== '') {
    if (value.slice(0, prefix.length).toLowerCase() !== prefix) return undefined;
    value = value.slice(prefix.length);
  }
  if (encoding === 'hex') {
    if (value.length !== digestBytes * 2 || !/^[0-9a-fA-F]+$/.test(value)) return undefined;
    return Buffer.from(value, 'hex');
  }
  const bytes = Buffer.from(value, encoding === 'base64url' ? 'base64url' : 'base64');
  return bytes.length === digestBytes ? bytes : undefined;
}
