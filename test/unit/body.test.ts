import { describe, expect, it } from 'vitest';
import { bodyTypeOf, decodeForm, decodeJson, utf8 } from '../../src/body/decode-body.ts';

describe('utf8()', () => {
  it('decodes large non-ASCII bodies exactly like Buffer#toString', () => {
    const text = `${'scraped “text” — café 東京 '.repeat(4000)}😀`;
    const buf = Buffer.from(text);
    expect(buf.length).toBeGreaterThan(32 * 1024);
    expect(utf8(buf)).toBe(text);
  });

  it('drops a byte-order mark and keeps invalid bytes as replacement characters', () => {
    expect(utf8(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toBe('{}');
    const invalid = Buffer.concat([Buffer.from('x'.repeat(40_000)), Buffer.from([0xff, 0xfe]), Buffer.from('é')]);
    expect(utf8(invalid)).toBe(invalid.toString('utf8'));
  });
});

describe('decodeJson()', () => {
  it('responds 400 entity.parse.failed without echoing the body', () => {
    expect(() => decodeJson(Buffer.from('{"token":"abc"'))).toThrow(expect.objectContaining({ status: 400, type: 'entity.parse.failed' }));
    try {
      decodeJson(Buffer.from('{"token": abc}'));
    } catch (error) {
      expect((error as Error).message).not.toContain('abc');
    }
  });
});

describe('decodeForm()', () => {
  it('decodes a flat form into strings with no prototype', () => {
    const fields = decodeForm(Buffer.from('scrapingjob_id=1234&status=finished&sitemap_name=my+sitemap&__proto__=x&a%5Bb%5D=1'));
    expect(Object.getPrototypeOf(fields)).toBe(null);
    expect(Object.keys(fields)).toEqual(['scrapingjob_id', 'status', 'sitemap_name', '__proto__', 'a[b]']);
    expect(fields.sitemap_name).toBe('my sitemap');
    expect(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value).toBe('x');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('responds 400 to a repeated field', () => {
    expect(() => decodeForm(Buffer.from('status=finished&status=failed'))).toThrow(expect.objectContaining({ status: 400 }));
  });
});

describe('bodyTypeOf()', () => {
  it('matches JSON, +json and forms, and assumes the first type without a header', () => {
    expect(bodyTypeOf('application/json; charset=UTF-8', ['json'])).toBe('json');
    expect(bodyTypeOf('application/vnd.api+json', ['json'])).toBe('json');
    expect(bodyTypeOf('application/x-www-form-urlencoded', ['form', 'json'])).toBe('form');
    expect(bodyTypeOf(undefined, ['form', 'json'])).toBe('form');
  });

  it('responds 415 to other types and charsets', () => {
    expect(() => bodyTypeOf('application/x-www-form-urlencoded', ['json'])).toThrow(expect.objectContaining({ status: 415 }));
    expect(() => bodyTypeOf('application/json; charset=utf-16', ['json'])).toThrow(expect.objectContaining({ type: 'charset.unsupported' }));
  });
});
