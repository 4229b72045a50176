import { describe, expect, it } from 'vitest';
import { TransientHttpError } from '../../src/import/http.ts';
import { InvalidRowError, csvRows, jsonArrayRows, jsonLinesRows } from '../../src/import/rows.ts';

async function* bytes(...parts: (string | Buffer)[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}
async function all<T>(iterable: AsyncIterable<T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const rows of iterable) out.push(...rows);
  return out;
}

describe('row parsers', () => {
  it('JSON Lines: CRLF, blank lines, a character split across chunks, a final line without newline that parses', async () => {
    const euro = Buffer.from('{"a":"€"}\n');
    const rows = await all(jsonLinesRows(bytes('{"a":1}\r\n\n', euro.subarray(0, 7), euro.subarray(7), '{"a":', '3}')));
    expect(rows).toEqual([{ a: 1 }, { a: '€' }, { a: 3 }]);
    expect(await all(jsonLinesRows(bytes('{"a":1}\n{"a":2}\n{"a":3}\n'), 2))).toEqual([{ a: 3 }]);
  });

  it('JSON Lines: a cut last line is a truncation, a bad line in the middle is invalid data', async () => {
    await expect(all(jsonLinesRows(bytes('{"a":1}\n{"a":')))).rejects.toBeInstanceOf(TransientHttpError);
    await expect(all(jsonLinesRows(bytes('{"a":1}\nnot json\n{"a":2}\n')))).rejects.toBeInstanceOf(InvalidRowError);
  });

  it('JSON: array and envelope, split anywhere; an API error object; a cut document', async () => {
    const text = '{"spider_parameter":{"u":1},"data":[{"a":1},{"a":"x"}],"metadata":{"s":"ready"}}';
    for (let at = 1; at < text.length; at += 7) expect(await all(jsonArrayRows(bytes(text.slice(0, at), text.slice(at))))).toEqual([{ a: 1 }, { a: 'x' }]);
    expect(await all(jsonArrayRows(bytes('\uFEFF [{"a":1},{"a":2}]\n'), 1))).toEqual([{ a: 2 }]);
    await expect(all(jsonArrayRows(bytes('{"code":404,"msg":"gone","data":null}'), 0, (code) => new Error(`code ${code}`)))).rejects.toThrow('code 404');
    await expect(all(jsonArrayRows(bytes('[{"a":1},{"a"')))).rejects.toBeInstanceOf(TransientHttpError);
    await expect(all(jsonArrayRows(bytes('[{"a":1}}, 2]')))).rejects.toBeInstanceOf(InvalidRowError);
  });

  it('CSV: BOM, quoted CRLF inside a value, null literal; an open quote at the end is a truncation', async () => {
    const csv = '\uFEFF"a","b"\r\n"1","x\r\ny"\r\n"null","2"\r\n';
    expect(await all(csvRows(bytes(csv), 0, { nullLiteral: true }))).toEqual([{ a: '1', b: 'x\r\ny' }, { a: null, b: '2' }]);
    expect(await all(csvRows(bytes(csv), 1))).toEqual([{ a: 'null', b: '2' }]);
    await expect(all(csvRows(bytes('"a","b"\r\n"1","x'), 0))).rejects.toBeInstanceOf(TransientHttpError);
    await expect(all(csvRows(bytes('"a","b"\r\n"1"'), 0))).rejects.toBeInstanceOf(TransientHttpError);
  });
});
