import { afterEach, describe, expect, it } from 'vitest';
import { apifyItems, type ApifyItemsOptions } from '../../src/import/apify.ts';
import { ImportError } from '../../src/import/errors.ts';
import type { Batch } from '../../src/import/types.ts';
import { apifyApiMock, type ApifyApiMock, type ApifyApiMockOptions } from '../../src/testing/index.ts';
import { receivedRequests } from '../helpers/mock-requests.ts';
import { collect } from '../helpers/batches.ts';
import { recordingLogger } from '../helpers/recorder.ts';

const token = 'apify_secret_token_123';
let api: ApifyApiMock;
afterEach(() => api?.close());

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ i: from + i }));
const start = async (datasets: ApifyApiMockOptions['datasets'], faults: ApifyApiMockOptions['faults'] = []) => {
  api = await apifyApiMock({ token, datasets, faults });
  return api;
};
const source = (extra: Partial<ApifyItemsOptions> = {}) => apifyItems({ token, baseUrl: api.url, retryDelayMs: 1, ...extra });



const itemsRequests = () => api.requests.filter((r) => r.path.endsWith('/items'));

describe('apifyItems', () => {
  it('reads a dataset page by page with Bearer auth, batches numbered by index and first row', async () => {
    await start({ d1: rows(7) });
    const batches = await collect(source().read({ datasetId: 'd1' }, { batchSize: 3 }));
    expect(batches.map((b) => [b.index, b.firstRow, b.jobId, b.rows, b.cursor])).toEqual([
      [0, 0, 'd1', rows(3), { batches: 1, rows: 3, position: 3 }],
      [1, 3, 'd1', rows(3, 3), { batches: 2, rows: 6, position: 6 }],
      [2, 6, 'd1', rows(1, 6), { batches: 3, rows: 7, position: 7 }],
    ]);
    expect(itemsRequests().map((r) => [r.query.offset, r.query.limit, r.query.format])).toEqual([['0', '3', 'json'], ['3', '3', 'json'], ['6', '3', 'json']]);
    // The token travels in the Authorization header only, never in a URL.
    expect(api.requests.every((r) => r.headers.authorization === `Bearer ${token}` && !r.url.includes(token))).toBe(true);
  });

  it('asks one more page when the last one was full, and ends on an empty dataset with no batch', async () => {
    await start({ d1: rows(6), empty: [] });
    expect((await collect(source().read({ datasetId: 'd1' }, { batchSize: 3 }))).map((b) => b.rows.length)).toEqual([3, 3]);
    expect(itemsRequests().map((r) => r.query.offset)).toEqual(['0', '3', '6']);
    expect(await collect(source().read({ datasetId: 'empty' }, { batchSize: 3 }))).toEqual([]);
  });

  it('reads items appended while it reads (a growing dataset), not only the first page\'s total', async () => {
    await start({ d1: rows(4) });
    const seen: unknown[] = [];
    for await (const batch of source().read({ datasetId: 'd1' }, { batchSize: 3 })) {
      seen.push(...batch.rows);
      if (batch.index === 0) api.push('d1', ...rows(5, 4));
    }
    expect(seen).toEqual(rows(9));
  });

  it('with clean, skips empty items and hidden fields, reads every window once, and does not stop at a window of empty items', async () => {
    // limit 3: window [0,3) = a,{},{}  → 1 item; window [3,6) = {},{},{} → 0 items (not the end); window [6,9) = b, hidden, c
    const data = [{ a: 1 }, {}, {}, {}, {}, {}, { b: 2 }, { '#debug': 'x', h: 3 }, { c: 4 }, {}];
    await start({ d1: data });
    const batches = await collect(source({ clean: true }).read({ datasetId: 'd1' }, { batchSize: 3 }));
    expect(batches.map((b) => [b.index, b.firstRow, b.rows, b.cursor.position])).toEqual([
      [0, 0, [{ a: 1 }], 3],
      [1, 1, [{ b: 2 }, { h: 3 }, { c: 4 }], 9],
    ]);
    expect(itemsRequests().map((r) => [r.query.offset, r.query.clean])).toEqual([['0', '1'], ['3', '1'], ['6', '1'], ['9', '1']]);
  });

  it('passes fields and omit on', async () => {
    await start({ d1: [{ a: 1, b: 2, c: 3 }] });
    const [batch] = await collect(source({ fields: ['c', 'a'] }).read({ datasetId: 'd1' }));
    expect(batch!.rows).toEqual([{ c: 3, a: 1 }]);
    const [omitted] = await collect(source({ omit: ['b'] }).read({ datasetId: 'd1' }));
    expect(omitted!.rows).toEqual([{ a: 1, c: 3 }]);
  });

  it('retries 429 (with and without Retry-After), 5xx and a cut-off body in the middle of pagination, and reads every item once', async () => {
    await start({ d1: rows(9) }, [
      { path: '/items', requests: 2, fault: { kind: 'status', status: 429 } },
      { path: '/items', requests: 3, fault: { kind: 'status', status: 429, retryAfter: 1 } },
      { path: '/items', requests: [4, 5], fault: { kind: 'status', status: 503 } },
      { path: '/items', requests: 6, fault: { kind: 'status', status: 500 } },
      { path: '/items', requests: 7, fault: { kind: 'truncate' } },
      { path: '/items', requests: 8, fault: { kind: 'truncate', chunked: true, graceful: true } },
    ]);
    const log = recordingLogger();
    const batches = await collect(source().read({ datasetId: 'd1' }, { batchSize: 3, logger: log.logger }));
    expect(batches.flatMap((b) => b.rows)).toEqual(rows(9));
    expect(batches.map((b) => b.index)).toEqual([0, 1, 2]);
    const waits = log.lines.filter((l) => l.level === 'warn').map((l) => (l.obj as { status?: number; waitMs: number }).status);
    expect(waits).toEqual([429, 429, 503, 503, 500, undefined, 200]);
    // Retry-After: 1 was honoured; the other waits follow the backoff from retryDelayMs.
    expect((log.lines[1]!.obj as { waitMs: number }).waitMs).toBe(1000);
    expect(JSON.stringify(log.lines)).not.toContain(token);
  });

  it('fails with import.unavailable after the retries, having yielded only whole pages: never a silent truncation', async () => {
    await start({ d1: rows(9) }, [{ path: '/items', requests: [2, 3, 4], fault: { kind: 'status', status: 502 } }]);
    const seen: Batch[] = [];
    const error = await (async () => {
      for await (const batch of source({ maxRetries: 2 }).read({ datasetId: 'd1' }, { batchSize: 3 })) seen.push(batch);
    })().catch((e: unknown) => e);
    expect(seen.map((b) => b.index)).toEqual([0]);
    expect(error).toBeInstanceOf(ImportError);
    expect(error).toMatchObject({ code: 'import.unavailable', provider: 'apify', jobId: 'd1', status: 502, retryable: true });
    expect((error as Error).message).toMatch(/^apify: dataset d1: the API kept answering HTTP 502/);
  });

  it('fails at once with import.unauthorized on a wrong token, the token in no message nor log', async () => {
    api = await apifyApiMock({ token: 'the-right-one', datasets: { d1: rows(3) } });
    const log = recordingLogger();
    const error = await collect(apifyItems({ token, baseUrl: api.url, retryDelayMs: 1 }).read({ datasetId: 'd1' }, { logger: log.logger })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ImportError', code: 'import.unauthorized', status: 401, retryable: false, jobId: 'd1' });
    expect((error as Error).message).toContain('check the API token');
    expect(itemsRequests()).toHaveLength(1);
    expect(JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack, log: log.lines })).not.toContain(token);
  });

  it('quotes the API\'s error text without the token, even when the API echoes it', async () => {
    await start({ d1: rows(3) }, [
      { path: '/items', requests: 1, fault: { kind: 'status', status: 400, message: `Invalid request for token ${token}` } },
      { path: '/items', requests: 2, fault: { kind: 'status', status: 404, message: `No dataset for ${token}` } },
    ]);
    const invalid = await collect(source().read({ datasetId: 'd1' })).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'import.invalid', status: 400, retryable: false });
    expect((invalid as Error).message).toBe('apify: dataset d1: the API answered HTTP 400: Invalid request for token [redacted]');
    const missing = await collect(source().read({ datasetId: 'd1' })).catch((e: unknown) => e);
    expect((missing as Error).message).toContain('No dataset for [redacted]');
    expect((missing as Error).message).not.toContain(token);
  });

  it('fails at once with import.not.found on a missing dataset, saying unnamed datasets last 7 days', async () => {
    await start({});
    const error = await collect(source().read({ datasetId: 'gone' })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'import.not.found', status: 404, retryable: false, jobId: 'gone' });
    expect((error as Error).message).toMatch(/dataset gone.*7 days/);
    expect(itemsRequests()).toHaveLength(1);
  });

  it('resumes from any batch\'s cursor with the same remaining batches (plain and clean)', async () => {
    const data = [...rows(4), {}, { '#h': 1, k: 1 }, {}, {}, {}, ...rows(5, 10)];
    await start({ d1: data });
    for (const clean of [false, true]) {
      const all = await collect(source({ clean }).read({ datasetId: 'd1' }, { batchSize: 3 }));
      for (let k = 0; k < all.length; k++) {
        const rest = await collect(source({ clean }).read({ datasetId: 'd1' }, { batchSize: 3, after: all[k]!.cursor }));
        expect(rest).toEqual(all.slice(k + 1));
      }
    }
  });

  it('abandons a stalled page after timeoutMs and asks it again', async () => {
    await start({ d1: rows(5) }, [{ path: '/items', requests: 2, fault: { kind: 'stall' } }]);
    const batches = await collect(source({ timeoutMs: 300 }).read({ datasetId: 'd1' }, { batchSize: 3 }));
    expect(batches.flatMap((b) => b.rows)).toEqual(rows(5));
    expect(itemsRequests().map((r) => r.query.offset)).toEqual(['0', '3', '3']);
  });

  it('aborts a stalled page promptly when the signal aborts', async () => {
    await start({ d1: rows(50) }, [{ path: '/items', fault: { kind: 'stall' } }]);
    const controller = new AbortController();
    const reading = collect(source().read({ datasetId: 'd1' }, { signal: controller.signal }));
    await receivedRequests(api, 1);
    controller.abort(new Error('handler timed out'));
    await expect(reading).rejects.toThrow('handler timed out');
  });

  it('refOf: the default dataset of a run that ended; nothing for a run still running or a build', () => {
    const s = apifyItems({ token });
    const run = { resource: { defaultDatasetId: 'ds1' } };
    for (const type of ['ACTOR.RUN.SUCCEEDED', 'ACTOR.RUN.FAILED', 'ACTOR.RUN.ABORTED', 'ACTOR.RUN.TIMED_OUT']) expect(s.refOf({ type, payload: run })).toEqual({ datasetId: 'ds1' });
    for (const type of ['ACTOR.RUN.CREATED', 'ACTOR.RUN.RESURRECTED', 'ACTOR.BUILD.SUCCEEDED', 'TEST']) expect(s.refOf({ type, payload: run })).toBeUndefined();
    expect(s.refOf({ type: 'ACTOR.RUN.SUCCEEDED', payload: {} })).toBeUndefined();
    expect(s.jobIdOf({ datasetId: 'ds1' })).toBe('ds1');
  });

  it('throws TypeError on a missing token or a bad retry option', () => {
    expect(() => apifyItems({ token: '' })).toThrow(TypeError);
    expect(() => apifyItems({ token, maxRetries: -1 })).toThrow('Expected `maxRetries` to be a non-negative integer, got -1');
    expect(() => apifyItems({ token, baseUrl: 'api.apify.com' })).toThrow(new TypeError('Expected `baseUrl` to be an absolute http(s) URL, got "api.apify.com"'));
  });
});
