import type { VerifyContext } from '../../src/index.ts';

/** The request a verifier sees, built from parts (a POST to `/hook` by default). */
export function verifyContext(parts: { body?: string; headers?: Record<string, string>; url?: string; params?: Record<string, string> }): VerifyContext {
  const url = parts.url ?? '/hook';
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  return {
    method: 'POST',
    url,
    params: parts.params ?? {},
    rawBody: Buffer.from(parts.body ?? ''),
    header: (name) => parts.headers?.[name],
    query: (name) => query.get(name) ?? undefined,
  };
}
