import { describe, expect, it } from 'vitest';
import { secretToken } from '../../../src/index.ts';
import { verifyContext as ctx } from '../../helpers/verify-context.ts';

describe('secretToken()', () => {
  it('reads the token from a route parameter, the query or a Bearer header', () => {
    const verify = secretToken({ token: 't0ken', param: 'token', query: 'token', header: 'authorization' });
    expect(verify(ctx({ params: { token: 't0ken' } }))).toBe(true);
    expect(verify(ctx({ url: '/hook?token=t0ken' }))).toBe(true);
    expect(verify(ctx({ headers: { authorization: 'Bearer t0ken' } }))).toBe(true);
    expect(verify(ctx({ headers: { authorization: 't0ken' } }))).toBe(false);
    expect(verify(ctx({ params: { token: 't0ke' }, url: '/hook?token=t0kenx' }))).toBe(false);
    expect(verify(ctx({}))).toBe(false);
  });

  it('accepts any of several tokens and a named header without a scheme', () => {
    const verify = secretToken({ tokens: ['a', 'b'], header: 'X-Webhook-Token' });
    expect(verify(ctx({ headers: { 'x-webhook-token': 'b' } }))).toBe(true);
    expect(verify(ctx({ headers: { 'x-webhook-token': 'c' } }))).toBe(false);
  });

  it('throws a TypeError without a token or a place to read it', () => {
    expect(() => secretToken({ param: 'token' })).toThrow(/`token` or `tokens`/);
    expect(() => secretToken({ token: 'x' })).toThrow(/`param`, `query` or `header`/);
  });
});
