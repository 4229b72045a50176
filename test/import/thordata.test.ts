import { afterEach, describe, expect, it } from 'vitest';
import { ImportError } from '../../src/import/errors.ts';
import { thordataResults, type ThordataResultsOptions } from '../../src/import/thordata.ts';
import type { Batch } from '../../src/import/types.ts';
import { thordataApiMock, type MockFault, type ThordataApiMock, type ThordataApiMockOptions, type ThordataCodeFault } from '../../src/testing/index.ts';
import { recorder } from '../helpers/recorder.ts';

const token = 'thor-Secret-token';
const key = 'thor-Secret-key';
const apiKey = 'thor-Secret-apikey';
const taskId = '2e9ddee0582a40a9b1c2d3e4f5a6b7c8';
const fast = { minDelayMs: 1, maxDelayMs: 5, stallTimeoutMs: 300 };
const rows = Array.from({ length: 23 }, (_, i) => ({ i, title: `Item ${i}`, note: i === 2 ? 'a,"b"\nc' : 'x' }));
let api: ThordataApiMock | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function start(extra: Partial<ThordataApiMockOptions> = {}, faults: MockFault<ThordataCodeFault>[] = []) {
  api = await thordataApiMock({ token, key, apiKey, tasks: [{ id: taskId, rows }, { id: 'empty' }, { id: 'running', status: 'Running' }], faults, ...extra });
  return api;
}
const source = (options: Partial<ThordataResultsOptions> = {}) => thordataResults({ token, key, baseUrl: api!.apiUrl, retry: fast, ...options });
async function collect<T>(iterable: AsyncIterable<Batch<T>>): Promise<Batch<T>[]> {
  const out: Batch<T>[] = [];
  for await (const batch of iterable) out.push(batch);
  return out;
}
const ids = (batches: Batch<Record<string, unknown>>[]) => batches.flatMap((b) => b.rows.map((r) => Number(r.i)));
const all = rows.map((r) => r.i);
const downloads = () => api!.requests.filter((r) => r.path.includes('/scrapers/')).length;

describe('thordataResults', () => {
  it.each(['array', 'envelope'] as const)('reads the JSON file served as %s from resource.jsonUrl, in batches', async (fileFormat) => {
    await start({ fileFormat });
    const batches = await collect(source().read({ taskId, url: api!.fileUrl(taskId) }, { batchSize: 10 }));
    expect(batches.map((b) => [b.index, b.firstRow, b.rows.length, b.jobId])).toEqual([[0, 0, 10, taskId], [1, 10, 10, taskId], [2, 20, 3, taskId]]);
    expect(batches[0]!.rows[2]).toEqual(rows[2]);
    expect(api!.requests.map((r) => r.path)).toEqual([new URL(api!.fileUrl(taskId)).pathname]);
  });

  it('takes the task id and file URL from ACTOR.RUN.SUCCEEDED only', async () => {
    await start();
    const event = (type: string) => ({ type, payload: { resource: { taskId, jsonUrl: 'https://x/a.json', csvUrl: 'https://x/a.csv' } } });
    expect(source().refOf(event('ACTOR.RUN.SUCCEEDED'))).toEqual({ taskId, url: 'https://x/a.json' });
    expect(source({ format: 'csv' }).refOf(event('ACTOR.RUN.SUCCEEDED'))).toEqual({ taskId, url: 'https://x/a.csv' });
    expect(source().refOf(event('ACTOR.RUN.FAILED'))).toBeUndefined();
    expect(source().refOf({ type: 'ACTOR.RUN.SUCCEEDED', payload: { resource: { taskId } } })).toEqual({ taskId });
  });

  it('asks tasks-download (token + key headers) when the webhook gave no URL', async () => {
    await start({ fileFormat: 'envelope' });
    expect(ids(await collect(source().read({ taskId })))).toEqual(all);
    const [ask] = api!.requests;
    expect(ask).toMatchObject({ method: 'POST', path: '/api/web-scraper-api/tasks-download', headers: { token, key } });
    expect(new URLSearchParams(ask!.body).get('tasks_id')).toBe(taskId);
  });

  it.each([403, 404] as const)('gets a new URL from tasks-download when the file URL expired (%s)', async (status) => {
    await start();
    const url = api!.fileUrl(taskId);
    api!.expireUrls(status);
    // The mock expires signed URLs; an unsigned webhook URL is sign=0, so it is expired too.
    expect(ids(await collect(source().read({ taskId, url }, { batchSize: 5 })))).toEqual(all);
    expect(api!.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`GET ${new URL(url).pathname}`, 'POST /api/web-scraper-api/tasks-download', `GET ${new URL(url).pathname}`]);
  });

  it('reads the CSV file', async () => {
    await start();
    const got = (await collect(source({ format: 'csv' }).read({ taskId, url: api!.fileUrl(taskId, 'csv') }))).flatMap((b) => b.rows);
    expect(got).toHaveLength(23);
    expect(got[2]).toEqual({ i: '2', title: 'Item 2', note: 'a,"b"\nc' });
  });

  it('reads an empty result as zero rows', async () => {
    await start();
    expect(await collect(source().read({ taskId: 'empty', url: api!.fileUrl('empty') }))).toEqual([]);
  });

  it.each([
    ['HTTP 429 without Retry-After', { kind: 'status', status: 429 }],
    ['HTTP 502', { kind: 'status', status: 502 }],
    ['a cut body', { kind: 'truncate' }],
    ['a chunked body cut short but well formed', { kind: 'truncate', chunked: true, graceful: true }],
    ['a stalled body', { kind: 'stall' }],
  ] as const)('retries the file download after %s, every row once', async (_name, fault) => {
    await start({}, [{ path: /\/scrapers\//, requests: [1, 2], fault: fault as MockFault<ThordataCodeFault>['fault'] }]);
    const batches = await collect(source().read({ taskId, url: api!.fileUrl(taskId) }, { batchSize: 4 }));
    expect(ids(batches)).toEqual(all);
    expect(batches.map((b) => b.firstRow)).toEqual([0, 4, 8, 12, 16, 20]);
    expect(downloads()).toBe(3);
  });

  it('honours Retry-After on a 429 of tasks-download, and retries a 429 or 500 given in the body code', async () => {
    await start({}, [
      { path: '/tasks-download', requests: 1, fault: { kind: 'status', status: 429, retryAfter: 1 } },
      { path: '/tasks-download', requests: 2, fault: { kind: 'code', code: 429 } },
      { path: '/tasks-download', requests: 3, fault: { kind: 'code', code: 500 } },
    ]);
    const began = Date.now();
    expect(ids(await collect(source().read({ taskId })))).toEqual(all);
    expect(Date.now() - began).toBeGreaterThanOrEqual(900);
    expect(api!.requests.filter((r) => r.path.endsWith('/tasks-download'))).toHaveLength(4);
  });

  it.each(['code', 'http'] as const)('fails wrong token/key at once with import.unauthorized (errors as %s), no secret in message or logs', async (errors) => {
    await start({ errors });
    const { logger, lines } = recorder();
    const error = await collect(thordataResults({ token: 'bad-token', key, apiKey, baseUrl: api!.apiUrl, retry: fast }).read({ taskId }, { logger })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect(error).toMatchObject({ code: 'import.unauthorized', retryable: false, status: 401, provider: 'thordata', jobId: taskId });
    expect((error as Error).message).toMatch(/thordata.*2e9ddee0.*token/);
    const text = `${(error as Error).message}\n${lines.join('\n')}`;
    for (const secret of ['bad-token', key, apiKey]) expect(text).not.toContain(secret);
    expect(api!.requests).toHaveLength(1);
  });

  it('fails an unknown task with import.not.found, and a task not collected yet (code 300) with the retryable import.not.ready', async () => {
    await start({}, [{ path: '/tasks-download', requests: 2, fault: { kind: 'code', code: 300 } }]);
    expect(await collect(source().read({ taskId: 'nope' })).catch((e: unknown) => e)).toMatchObject({ code: 'import.not.found', retryable: false });
    expect(await collect(source().read({ taskId })).catch((e: unknown) => e)).toMatchObject({ code: 'import.not.ready', retryable: true });
  });

  it('adds apiKey to a /download URL that lacks it, and keeps it out of messages', async () => {
    await start();
    const url = `${api!.url}/download?plat=1&task_id=${taskId}&type=json`;
    expect(ids(await collect(source({ apiKey }).read({ taskId, url })))).toEqual(all);
    expect(api!.requests[0]!.query).toMatchObject({ api_key: apiKey, task_id: taskId });
    const error = await collect(source({ apiKey: 'wrong-api-key' }).read({ taskId, url })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'import.unauthorized' });
    expect((error as Error).message).not.toContain('wrong-api-key');
  });

  it.each(['array', 'envelope'] as const)('resumes the %s file after a cursor with the same remaining batches', async (fileFormat) => {
    await start({ fileFormat });
    const url = api!.fileUrl(taskId);
    const first = await collect(source().read({ taskId, url }, { batchSize: 5 }));
    const resumed = await collect(source().read({ taskId, url }, { batchSize: 5, after: first[1]!.cursor }));
    expect(resumed.map((b) => [b.index, b.firstRow, b.rows, b.cursor])).toEqual(first.slice(2).map((b) => [b.index, b.firstRow, b.rows, b.cursor]));
  });

  it('rejects bad options with a TypeError', () => {
    expect(() => thordataResults({ token: '', key })).toThrow(/token/);
    expect(() => thordataResults({ token, key: '' })).toThrow(/key/);
    expect(() => thordataResults({ token, key, format: 'xml' as 'json' })).toThrow(/format/);
  });
});
