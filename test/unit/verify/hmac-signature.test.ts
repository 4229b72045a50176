import { describe, expect, it } from 'vitest';
import { hmacSignature } from '../../../src/index.ts';
import { verifyContext as ctx } from '../../helpers/verify-context.ts';

// Known-answer vector from the provider notes (Firecrawl: secret "secret").
const BODY = '{"success":true,"type":"crawl.page","id":"crawl-123","webhookId":"webhook-123","data":[]}';
const SIGNATURE = 'sha256=29729c39fd5f57c6f4d50c86dd20256a5d77b7b39d19531c17805163fb830d40';

describe('hmacSignature()', () => {
  const verify = hmacSignature({ secret: 'secret', header: 'X-Firecrawl-Signature', prefix: 'sha256=' });

  it('accepts the known-answer signature', () => {
    expect(verify(ctx({ body: BODY, headers: { 'x-firecrawl-signature': SIGNATURE } }))).toBe(true);
  });

  it('accepts an upper-case hex digest and prefix', () => {
    expect(verify(ctx({ body: BODY, headers: { 'x-firecrawl-signature': SIGNATURE.toUpperCase() } }))).toBe(true);
  });

  it.each([
    ['a changed body', BODY.replace('123', '124'), SIGNATURE],
    ['a missing header', BODY, undefined],
    ['a wrong prefix', BODY, SIGNATURE.replace('sha256=', 'sha1=')],
    ['non-hex characters', BODY, `${SIGNATURE.slice(0, -1)}z`],
    ['a short digest', BODY, SIGNATURE.slice(0, -2)],
  ])('rejects %s', (_label, body, signature) => {
    expect(verify(ctx({ body, headers: signature === undefined ? {} : { 'x-firecrawl-signature': signature } }))).toBe(false);
  });

  it('accepts base64 signatures and any of several secrets', () => {
    const b64 = hmacSignature({ secrets: ['old', 'secret'], header: 'x-sig', encoding: 'base64' });
    const digest = Buffer.from(SIGNATURE.slice(7), 'hex').toString('base64');
    expect(b64(ctx({ body: BODY, headers: { 'x-sig': digest } }))).toBe(true);
    expect(b64(ctx({ body: BODY, headers: { 'x-sig': Buffer.alloc(32).toString('base64') } }))).toBe(false);
  });

  it('throws a TypeError without a secret or header', () => {
    expect(() => hmacSignature({ header: 'x' })).toThrow(/`secret` or `secrets`/);
    expect(() => hmacSignature({ secret: '', header: 'x' })).toThrow(TypeError);
    expect(() => hmacSignature({ secret: 's', header: '' })).toThrow(/`header`/);
  });
});
