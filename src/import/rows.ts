/**
 * Rows out of a streamed download, and batches out of rows, for the file-download importers (Web
 * Scraper Cloud, Thordata): JSON Lines, a JSON array (or an envelope around one), CSV. Every parser
 * reads chunk by chunk with bounded memory, and tells a body that broke off (a last line that does
 * not parse, a JSON document or a quoted CSV field left open) from a complete one by throwing a
 * {@link TransientHttpError} `truncated`, so the download is retried and never reported complete.
 * And {@link batchNumbers}, which numbers the batches of every source (the paginated ones too).
 * @module
 */
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { JSONParser } from '@streamparser/json';
import { parse as parseCsv, type CsvError } from 'csv-parse';
import type { Batch, ImportCursor } from './types.ts';
import { TransientHttpError, importError, openOnce, retryDownload, type HttpCall, type HttpResponse } from './http.ts';

/** A row the download holds that is not what the format says (not a truncation: the middle of the file). */
export class InvalidRowError extends Error {
  override readonly name = 'InvalidRowError';
}

/**
 * The rows of a JSON Lines body (in arrays, one per chunk read: an async step per row would cost
 * more than the parsing), one per `\n`-terminated line (`\r\n` too; blank lines skipped),
 * the first `skip` counted but not parsed. Lines are split on the decoded text (a `\n` byte never
 * occurs inside a UTF-8 sequence, and JSON Lines escapes newlines in values): measured as fast as
 * a Buffer splitter and ~1.4x faster than `readline` on 200k rows.
 *
 * A last line without `\n` is a row when it parses (a file without a final newline), and a
 * truncated body when it does not.
 */
export async function* jsonLinesRows(chunks: AsyncIterable<Uint8Array>, skip = 0): AsyncGenerator<unknown[]> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let line = 0; // non-blank lines seen
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new InvalidRowError(`line ${line} is not JSON (${(error as Error).message})`);
    }
  };
  for await (const chunk of chunks) {
    const text = carry + decoder.write(chunk as Buffer);
    let start = 0;
    let end: number;
    let rows: unknown[] | undefined;
    while ((end = text.indexOf('\n', start)) !== -1) {
      let stop = end;
      if (stop > start && text.charCodeAt(stop - 1) === 13) stop -= 1;
      if (stop > start) {
        line += 1;
        if (line > skip) (rows ??= []).push(parse(text.slice(start, stop)));
      }
      start = end + 1;
    }
    carry = start === 0 ? text : text.slice(start);
    if (rows) yield rows;
  }
  const last = (carry + decoder.end()).trim();
  if (last === '') return;
  line += 1;
  let row: unknown;
  try {
    row = JSON.parse(last);
  } catch {
    throw new TransientHttpError(`the body ended in the middle of line ${line} (no final newline, and the line does not parse)`, 'truncated');
  }
  if (line > skip) yield [row];
}

/**
 * The records of a JSON body that is an array of records, or an object holding them in `data` (the
 * `{spider_parameter, data: [...], metadata}` envelope), the first `skip` parsed but dropped.
 * Streams with `@streamparser/json` (bounded memory: each record is dropped once handed out). An
 * object with a `code` other than 200 and no records is an API error answered in place of the file:
 * `onCode` turns it into the error to throw.
 */
export async function* jsonArrayRows(chunks: AsyncIterable<Uint8Array>, skip = 0, onCode?: (code: number, msg: string | undefined) => Error): AsyncGenerator<unknown[]> {
  let parser: JSONParser | undefined;
  let seen = 0;
  let pending: unknown[] = [];
  let failure: Error | undefined;
  let code: unknown;
  let msg: unknown;
  const start = (first: number): JSONParser => {
    const envelope = first === 0x7b; // '{'
    // Never ask for `$.data` itself: the parser would keep the whole array to hand it out.
    const p = new JSONParser({ paths: envelope ? ['$.data.*', '$.code', '$.msg'] : ['$.*'], keepStack: false, stringBufferSize: 64 * 1024 });
    p.onValue = ({ value, key, stack }) => {
      if (envelope && stack.length === 1) {
        if (key === 'code') code = value;
        else if (key === 'msg') msg = value;
        return;
      }
      seen += 1;
      if (seen > skip) pending.push(value);
    };
    p.onError = (error) => {
      failure ??= error;
    };
    return p;
  };
  let empty = true;
  for await (const chunk of chunks) {
    if (!parser) {
      const first = chunk.findIndex((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf);
      if (first === -1) continue;
      empty = false;
      const byte = chunk[first]!;
      if (byte !== 0x5b && byte !== 0x7b) throw new InvalidRowError(`the file is neither a JSON array nor an object (it starts with ${JSON.stringify(String.fromCharCode(byte))})`);
      parser = start(byte);
      parser.write(chunk.subarray(first));
    } else if (!parser.isEnded) {
      parser.write(chunk);
    }
    if (failure) break;
    if (pending.length) {
      const rows = pending;
      pending = [];
      yield rows;
    }
  }
  if (empty) return;
  if (failure) throw new InvalidRowError(`the JSON file does not parse after record ${seen} (${failure.message})`);
  if (!parser?.isEnded) {
    try {
      parser?.end();
    } catch (error) {
      failure = error as Error;
    }
    if (failure || !parser?.isEnded) throw new TransientHttpError(`the JSON document ends before it closes, after record ${seen} (${failure?.message ?? 'no closing bracket'})`, 'truncated');
  }
  if (code !== undefined && Number(code) !== 200 && seen === 0 && onCode) throw onCode(Number(code), typeof msg === 'string' ? msg : undefined);
  if (pending.length) yield pending;
}

/**
 * The records of a CSV body as objects keyed by the header row, with `csv-parse` (BOM, CRLF,
 * quoted newlines), the first `skip` dropped; with `nullLiteral`, the value `null` (quoted or not)
 * becomes `null`. A quoted field left open, or a last record with too few columns, at the end of
 * the body is a truncation.
 */
export async function* csvRows(chunks: AsyncIterable<Uint8Array>, skip = 0, options: { nullLiteral?: boolean } = {}): AsyncGenerator<Record<string, unknown>[]> {
  let ended = false;
  const source = Readable.from((async function* () {
    yield* chunks;
    ended = true;
  })(), { objectMode: false });
  const parser = parseCsv({
    bom: true,
    columns: true,
    skip_empty_lines: true,
    ...(options.nullLiteral ? { cast: (value: string) => (value === 'null' ? null : value) } : {}),
  });
  source.on('error', (error) => parser.destroy(error));
  source.pipe(parser);
  let seen = 0;
  try {
    for await (const record of parser as AsyncIterable<Record<string, unknown>>) {
      seen += 1;
      if (seen > skip) yield [record];
    }
  } catch (error) {
    const code = (error as CsvError).code;
    if (typeof code === 'string' && code.startsWith('CSV_')) {
      if (ended && (code === 'CSV_QUOTE_NOT_CLOSED' || code === 'CSV_RECORD_INCONSISTENT_COLUMNS' || code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH')) {
        throw new TransientHttpError(`the CSV ends in the middle of record ${seen + 1} (${(error as Error).message})`, 'truncated');
      }
      throw new InvalidRowError(`record ${seen + 1} is not valid CSV (${(error as Error).message})`);
    }
    throw error;
  } finally {
    source.destroy();
  }
}

/**
 * Numbers a read's batches from its `after` cursor: `batch(rows, bytes, position)` gives the next
 * `index`, its `firstRow` and the cursor after it, so a resumed read numbers its batches as the
 * first run did. Every source's batches are made here.
 */
export function batchNumbers(jobId: string, after: ImportCursor | undefined) {
  let index = after?.batches ?? 0;
  let handed = after?.rows ?? 0;
  return {
    /** Rows handed out in batches, those before `after` included. */
    get rows(): number {
      return handed;
    },
    batch<Row>(rows: Row[], bytes: number, position?: ImportCursor['position']): Batch<Row> {
      const cursor: ImportCursor = { batches: index + 1, rows: handed + rows.length, ...(position === undefined ? {} : { position }) };
      const made = { index, firstRow: handed, jobId, rows, bytes, cursor };
      index += 1;
      handed += rows.length;
      return made;
    },
  };
}

/** How {@link downloadBatches} reads one download. */
export interface DownloadPlan<Row> {
  /** The call (for retries, messages, the signal). */
  readonly call: HttpCall;
  readonly jobId: string;
  readonly batchSize: number;
  readonly after?: ImportCursor | undefined;
  /** Opens the download for an attempt. @default openOnce(call) */
  readonly open?: () => Promise<HttpResponse>;
  /** The rows of an open download, in arrays of any length, the first `skip` left out. */
  rows(response: HttpResponse, skip: number): AsyncIterable<Row[]>;
}

/**
 * Batches of `batchSize` rows from a whole-file download, resumable: after `after`, the file is
 * downloaded again and its first `after.rows` rows skipped (the APIs have no Range support), so
 * batch `index` and `firstRow` are the same as in the first run. A download that breaks off is
 * downloaded again the same way, keeping the rows of the batch being filled.
 */
export async function* downloadBatches<Row>(plan: DownloadPlan<Row>): AsyncGenerator<Batch<Row>> {
  const { call, batchSize } = plan;
  const numbers = batchNumbers(plan.jobId, plan.after);
  let pending: Row[] = [];
  let best = numbers.rows;
  const batch = (bytes: number): Batch<Row> => {
    call.signal?.throwIfAborted(); // rows already parsed are not handed out after an abort
    const rows = pending;
    pending = [];
    return numbers.batch(rows, bytes);
  };
  try {
    yield* retryDownload(call, async function* () {
      const response = await (plan.open ?? (() => openOnce(call)))();
      let mark = 0;
      try {
        for await (const rows of plan.rows(response, numbers.rows + pending.length)) {
          for (const row of rows) {
            pending.push(row);
            if (pending.length >= batchSize) {
              const bytes = response.bytes - mark;
              mark = response.bytes;
              yield batch(bytes);
            }
          }
        }
        if (pending.length) yield batch(response.bytes - mark);
      } finally {
        response.cancel();
      }
    }, () => {
      const got = numbers.rows + pending.length;
      if (got <= best) return false;
      best = got;
      return true;
    });
  } catch (error) {
    if (error instanceof InvalidRowError) throw importError(call, 'import.invalid', `${error.message}. The file is not in the documented format; check the \`format\` option.`, { cause: error });
    throw error;
  }
}
