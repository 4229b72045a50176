import { afterEach, describe, expect, it } from 'vitest';
import { apifyApiMock, type ApifyApiMock } from '../../../src/testing/index.ts';

const token = 'apify_secret';
let api: ApifyApiMock;
afterEach(() => api?.close());

// storage order: 0..5, with an empty item at 2 and a hidden field at 4
const items = [{ n: 0, a: 'x' }, { n: 1, a: 'y' }, {}, { n: 3, a: 'z' }, { n: 4, '#debug': 'h' }, { n: 5, a: 'w' }];
const auth = { authorization: `Bearer ${token}` };
const get = (path: string, init: RequestInit = { headers: auth }) => fetch(`${api.url}${path}`, init);
const pagination = (res: Response) => ['offset', 'limit', 'count', 'total'].map((h) => res.headers.get(`x-apify-pagination-${h}`));

describe('apifyApiMock', () => {
  it('takes the token as Bearer or ?token=, and answers 401 token-not-provided / invalid-token', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items } });
    expect((await get('/v2/datasets/d1/items')).status).toBe(200);
    expect((await get(`/v2/datasets/d1/items?token=${token}`, {})).status).toBe(200);
    const missing = await get('/v2/datasets/d1/items', {});
    expect([missing.status, await missing.json()]).toEqual([401, { error: { type: 'token-not-provided', message: 'Authentication token was not provided' } }]);
    const wrong = await get('/v2/datasets/d1/items', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { type: 'invalid-token' } });
  });

  it('serves json with the pagination headers (Limit 999999999999 without a limit) and X-RateLimit-Limit', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items } });
    const res = await get('/v2/datasets/d1/items');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(pagination(res)).toEqual(['0', '999999999999', '6', '6']);
    expect(res.headers.get('x-ratelimit-limit')).toBe('60');
    expect(await res.json()).toEqual(items);
  });

  it('slices by offset/limit before filtering, so a clean page may hold fewer than limit', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items } });
    const res = await get('/v2/datasets/d1/items?offset=1&limit=4&clean=1');
    expect(await res.json()).toEqual([{ n: 1, a: 'y' }, { n: 3, a: 'z' }, { n: 4 }]);
    expect(pagination(res)).toEqual(['1', '4', '3', '6']);
    expect(await (await get('/v2/datasets/d1/items?offset=2&limit=1&skipEmpty=true')).json()).toEqual([]);
    expect(await (await get('/v2/datasets/d1/items?offset=4&limit=1&skipHidden=1')).json()).toEqual([{ n: 4 }]);
    expect(await (await get('/v2/datasets/d1/items?offset=4&limit=1')).json()).toEqual([{ n: 4, '#debug': 'h' }]);
    expect(await (await get('/v2/datasets/d1/items?offset=10')).json()).toEqual([]);
  });

  it('orders newest first with desc=1, and projects fields (in their order) and omit', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items } });
    expect(await (await get('/v2/datasets/d1/items?desc=1&limit=2')).json()).toEqual([items[5], items[4]]);
    expect(await (await get('/v2/datasets/d1/items?limit=1&fields=a,n')).json()).toEqual([{ a: 'x', n: 0 }]);
    expect(Object.keys(((await (await get('/v2/datasets/d1/items?limit=1&fields=a,n')).json()) as object[])[0]!)).toEqual(['a', 'n']);
    expect(await (await get('/v2/datasets/d1/items?limit=1&omit=a')).json()).toEqual([{ n: 0 }]);
  });

  it('serves jsonl and csv (BOM and header), and HEAD with headers only', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items.slice(0, 2) } });
    const jsonl = await get('/v2/datasets/d1/items?format=jsonl');
    expect(jsonl.headers.get('content-type')).toMatch(/^application\/jsonl/);
    expect(await jsonl.text()).toBe('{"n":0,"a":"x"}\n{"n":1,"a":"y"}\n');
    const csv = Buffer.from(await (await get('/v2/datasets/d1/items?format=csv')).arrayBuffer()).toString();
    expect(csv).toBe('\uFEFFn,a\r\n0,x\r\n1,y\r\n');
    const head = await get('/v2/datasets/d1/items', { method: 'HEAD', headers: auth });
    expect(pagination(head)).toEqual(['0', '999999999999', '2', '2']);
    expect(await head.text()).toBe('');
  });

  it('grows between calls: appended items show in the total and the next page', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items.slice(0, 2) } });
    const first = await get('/v2/datasets/d1/items?offset=0&limit=2');
    expect(pagination(first)[3]).toBe('2');
    api.push('d1', { n: 6 }, { n: 7 });
    const next = await get('/v2/datasets/d1/items?offset=2&limit=2');
    expect(await next.json()).toEqual([{ n: 6 }, { n: 7 }]);
    expect(pagination(next)[3]).toBe('4');
  });

  it('serves the dataset object and the run shortcuts; 404 record-not-found otherwise', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items }, runs: { r1: { defaultDatasetId: 'd1' } } });
    expect(await (await get('/v2/datasets/d1')).json()).toMatchObject({ data: { id: 'd1', itemCount: 6, cleanItemCount: 5 } });
    expect(await (await get('/v2/actor-runs/r1/dataset/items?limit=1')).json()).toEqual([items[0]]);
    for (const path of ['/v2/datasets/nope', '/v2/datasets/nope/items', '/v2/actor-runs/nope/dataset/items']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { type: 'record-not-found' } });
    }
    const bad = await get('/v2/datasets/d1/items?offset=-1');
    expect([bad.status, ((await bad.json()) as { error: { type: string } }).error.type]).toEqual([400, 'invalid-request']);
  });

  it('serves key-value store records directly or through a 302 to an unauthenticated route', async () => {
    const keyValueStores = { s1: { OUTPUT: { body: '{"ok":true}' } } };
    api = await apifyApiMock({ token, keyValueStores, runs: { r1: { defaultDatasetId: 'd1', defaultKeyValueStoreId: 's1' } } });
    expect(await (await get('/v2/key-value-stores/s1/records/OUTPUT')).json()).toEqual({ ok: true });
    expect((await get('/v2/key-value-stores/s1/records/MISSING')).status).toBe(404);
    await api.close();
    api = await apifyApiMock({ token, keyValueStores, runs: { r1: { defaultDatasetId: 'd1', defaultKeyValueStoreId: 's1' } }, redirectRecords: true });
    const redirect = await get('/v2/actor-runs/r1/key-value-store/records/OUTPUT', { headers: auth, redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = redirect.headers.get('location')!;
    const followed = await fetch(location); // no token: a signed storage URL in production
    expect(await followed.json()).toEqual({ ok: true });
    expect(api.requestsWith(token).every((r) => r.path.startsWith('/v2/'))).toBe(true);
  });

  it('answers injected 5xx with an error body, then serves the same page', async () => {
    api = await apifyApiMock({ token, datasets: { d1: items }, faults: [{ path: '/v2/datasets/d1/items', requests: 1, fault: { kind: 'status', status: 500 } }] });
    const failed = await get('/v2/datasets/d1/items?offset=2&limit=2');
    expect([failed.status, (await failed.json()) as unknown]).toEqual([500, { error: { type: 'internal-server-error', message: 'Error 500' } }]);
    expect(await (await get('/v2/datasets/d1/items?offset=2&limit=2')).json()).toEqual([{}, items[3]]);
  });

  it('streams a lazily generated dataset as a valid JSON array', async () => {
    api = await apifyApiMock({ token, datasets: { big: { count: 50_000, row: (i) => ({ i }) } } });
    const body = await (await get('/v2/datasets/big/items?offset=49998')).json();
    expect(body).toEqual([{ i: 49_998 }, { i: 49_999 }]);
    expect(((await (await get('/v2/datasets/big/items')).json()) as unknown[]).length).toBe(50_000);
  });
});
