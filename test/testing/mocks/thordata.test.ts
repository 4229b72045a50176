import { afterEach, describe, expect, it } from 'vitest';
import { thordataApiMock, type ThordataApiMock } from '../../../src/testing/index.ts';

const id = '2e9ddee0582a40a9b1c2d3e4f5a6b7c8';
const rows = [{ title: 'a', price: 1 }, { title: 'b, "c"', price: 2 }];
const headers = { token: 'thordata-token', key: 'thordata-key' };
let api: ThordataApiMock;
afterEach(() => api?.close());

const post = async (route: string, form: Record<string, string>, h: Record<string, string> = headers) => {
  const res = await fetch(`${api.apiUrl}/${route}`, { method: 'POST', headers: h, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as { code: number; msg: string; data: any } };
};

describe('thordataApiMock', () => {
  it('reports a missing or wrong token/key in the body code with HTTP 200, or as HTTP 401 when switched', async () => {
    api = await thordataApiMock({ tasks: [{ id, rows }] });
    for (const h of [{}, { token: 'thordata-token' }, { ...headers, key: 'wrong' }] as Record<string, string>[]) {
      const res = await post('tasks-status', { tasks_ids: id }, h);
      expect([res.status, res.body.code]).toEqual([200, 401]);
    }
    await api.close();
    api = await thordataApiMock({ tasks: [{ id, rows }], errors: 'http' });
    const res = await post('tasks-status', { tasks_ids: id }, {});
    expect([res.status, res.body.code]).toEqual([401, 401]);
  });

  it('accepts POST only on the API routes', async () => {
    api = await thordataApiMock({ tasks: [{ id }] });
    expect((await fetch(`${api.apiUrl}/tasks-status?tasks_ids=${id}`, { headers })).status).toBe(405);
  });

  it('answers tasks-status, tasks-download (a file URL that serves the array) and tasks-list', async () => {
    api = await thordataApiMock({ tasks: [{ id, rows }, { id: 'run1', status: 'Running' }] });
    const status = await post('tasks-status', { tasks_ids: `${id},run1` });
    expect(status.body).toEqual({ code: 200, msg: 'ok', data: [{ task_id: id, status: 'Ready' }, { task_id: 'run1', status: 'Running' }] });

    const download = await post('tasks-download', { tasks_id: id, type: 'json' });
    expect(download.body).toMatchObject({ code: 200, msg: 'ok', data: { tasks_ids: id } });
    expect(download.body.data.download).toMatch(new RegExp(`^${api.url}/scrapers/thordata/\\d{4}/\\d{2}/\\d{2}/${id}\\.json`));
    const file = await fetch(download.body.data.download);
    expect(await file.json()).toEqual(rows);

    const notReady = await post('tasks-download', { tasks_id: 'run1', type: 'json' });
    expect([notReady.status, notReady.body.code]).toEqual([200, 404]);
    expect((await post('tasks-download', { tasks_id: 'unknown', type: 'json' })).body.code).toBe(404);

    const list = await post('tasks-list', { page: '1', size: '1' });
    expect(list.body.code).toBe(200);
    expect(list.body.data.count).toBe(2);
    expect(list.body.data.list).toHaveLength(1);
    expect(list.body.data.list[0]).toMatchObject({ task_id: id });
  });

  it('serves the envelope variant, CSV, and the /download?api_key= variant', async () => {
    api = await thordataApiMock({ tasks: [{ id, rows }], fileFormat: 'envelope' });
    const envelope = await (await fetch(api.fileUrl(id))).json();
    expect(envelope).toMatchObject({ data: rows, metadata: { task_id: id } });
    expect(envelope).toHaveProperty('spider_parameter');
    expect(await (await fetch(api.fileUrl(id, 'csv'))).text()).toBe('title,price\r\na,1\r\n"b, ""c""",2\r\n');
    expect((await fetch(`${api.url}/download?api_key=thordata-api-key&plat=1&task_id=${id}&type=json`)).status).toBe(200);
    const denied = await fetch(`${api.url}/download?api_key=wrong&plat=1&task_id=${id}&type=json`);
    expect(denied.status).toBe(401);
  });

  it('expires handed-out URLs (403 or 404); a fresh tasks-download URL works', async () => {
    api = await thordataApiMock({ tasks: [{ id, rows }] });
    const before = (await post('tasks-download', { tasks_id: id, type: 'json' })).body.data.download;
    api.expireUrls(403);
    expect((await fetch(api.fileUrl(id))).status).toBe(403);
    expect((await fetch(before)).status).toBe(403);
    const fresh = (await post('tasks-download', { tasks_id: id, type: 'json' })).body.data.download;
    expect(await (await fetch(fresh)).json()).toEqual(rows);
    api.expireUrls();
    expect((await fetch(fresh)).status).toBe(404);
  });

  it('injects errors in the body code (HTTP 200), e.g. 429, 500 and 300', async () => {
    api = await thordataApiMock({
      tasks: [{ id, rows }],
      faults: [{ path: '/tasks-download', requests: [1, 2, 3], fault: { kind: 'code', code: 429 } }],
    });
    const limited = await post('tasks-download', { tasks_id: id, type: 'json' });
    expect([limited.status, limited.body.code]).toEqual([200, 429]);
    await post('tasks-download', { tasks_id: id, type: 'json' });
    await post('tasks-download', { tasks_id: id, type: 'json' });
    expect((await post('tasks-download', { tasks_id: id, type: 'json' })).body.code).toBe(200);
    await api.close();
    for (const code of [500, 300]) {
      api = await thordataApiMock({ tasks: [{ id }], faults: [{ path: '/tasks-status', fault: { kind: 'code', code } }] });
      expect((await post('tasks-status', { tasks_ids: id })).body.code).toBe(code);
      await api.close();
    }
  });

  it('can also answer with a real HTTP 429 or 5xx', async () => {
    api = await thordataApiMock({ tasks: [{ id }], faults: [{ path: '/tasks-download', requests: 1, fault: { kind: 'status', status: 429, retryAfter: 1 } }] });
    const limited = await post('tasks-download', { tasks_id: id, type: 'json' });
    expect([limited.status, limited.body.code]).toEqual([429, 429]);
    expect((await post('tasks-download', { tasks_id: id, type: 'json' })).body.code).toBe(200);
  });

  it('never needs the API token and key on the file routes', async () => {
    api = await thordataApiMock({ tasks: [{ id, rows: { count: 10_000, row: (i) => ({ i }) } }] });
    const url = (await post('tasks-download', { tasks_id: id, type: 'json' })).body.data.download;
    expect(((await (await fetch(url)).json()) as unknown[]).length).toBe(10_000);
    expect(api.requestsWith('thordata-key').map((r) => r.path)).toEqual(['/api/web-scraper-api/tasks-download']);
  });
});
