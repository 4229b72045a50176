import { describe, expect, it } from 'vitest';
import { bodyTypeOf, decodeForm, decodeJson, decodeUtf8, utf8, UTF8_DECODER } from '../../../src/body/decode-body.ts';

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

describe('the two UTF-8 decoding paths', () => {
  // Seeded, so a failure is reproducible.
  let seed = 0x2f6e2b1;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const pieces = [
    Buffer.from('plain ASCII text, '),
    Buffer.from('“quoted” — café 東京 😀 '),
    Buffer.from([0xff]), // never valid
    Buffer.from([0xc3]), // a lead byte cut short
    Buffer.from([0xe2, 0x80]), // a three-byte sequence cut short
    Buffer.from([0xc0, 0xaf]), // an overlong '/'
    Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate encoded in UTF-8
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
    Buffer.from([0xef, 0xbb, 0xbf]), // a byte-order mark in the middle stays
  ];
  const sample = (size: number, bom: boolean, valid: boolean): Buffer => {
    const parts: Buffer[] = bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
    let length = 0;
    while (length < size) {
      const piece = pieces[Math.floor(random() * (valid ? 2 : pieces.length))]!;
      parts.push(piece);
      length += piece.length;
    }
    return Buffer.concat(parts);
  };

  it(`decode alike, valid or not, with or without a byte-order mark, around the size where the paths part (this Node uses ${UTF8_DECODER})`, () => {
    for (const size of [0, 3, 100, 1023, 1024, 1025, 2048, 40_000, 300_000]) {
      for (const bom of [false, true]) {
        for (const valid of [true, false]) {
          const raw = sample(size, bom, valid);
          // A mark at the very start is dropped (the random pieces may put one there too).
          const marked = raw.length >= 3 && raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf;
          const expected = raw.toString('utf8', marked ? 3 : 0);
          expect(decodeUtf8(raw, true)).toBe(expected);
          expect(decodeUtf8(raw, false)).toBe(expected);
          expect(utf8(raw)).toBe(expected);
        }
      }
    }
  });

  it('is chosen by the running Node: the transcoder before Node 24, V8 (simdutf) from it', () => {
    expect(UTF8_DECODER).toBe(Number.parseInt(process.versions.node, 10) < 24 ? 'transcode' : 'toString');
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
