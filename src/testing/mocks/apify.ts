import { RowStore, checkMockOptions, boolParam, chunks, csvLines, intParam, json, jsonArray, jsonLines, startMock, type MockFault, type MockRequest, type MockRows, type MockServer, type Reply } from './core.ts';

/** A dataset item. */
export type ApifyItem = Record<string, unknown>;

/** A key-value store record. */
export interface ApifyMockRecord {
  body: string | Buffer;
  /** @default 'application/json; charset=utf-8' */
  contentType?: string;
}

/** Options of {@link apifyApiMock}. */
export interface ApifyApiMockOptions {
  /**
   * The API token accepted as `Authorization: Bearer` or `?token=`.
   * @default 'apify_api_test'
   */
  token?: string;
  /**
   * Datasets by id, with their items in storage order.
   * @default {}
   * @example { d1: [{ a: 1 }, {}, { '#debug': 1, a: 2 }], big: { count: 1e6, row: (i) => ({ i }) } }
   */
  datasets?: Record<string, MockRows<ApifyItem>>;
  /**
   * Key-value stores by id, records by key.
   * @default {}
   */
  keyValueStores?: Record<string, Record<string, ApifyMockRecord>>;
  /**
   * Runs by id, for the `/v2/actor-runs/:runId/…` shortcuts.
   * @default {}
   * @example { r1: { defaultDatasetId: 'd1', defaultKeyValueStoreId: 's1' } }
   */
  runs?: Record<string, { defaultDatasetId: string; defaultKeyValueStoreId?: string }>;
  /**
   * Answer record reads with `302 Location:` a second (unauthenticated) route serving the body.
   * @default false
   */
  redirectRecords?: boolean;
  /**
   * Faults to inject; a `429` gets Apify's `rate-limit-exceeded` body and no `Retry-After` unless given.
   * @default []
   * @example [{ path: '/items', requests: 2, fault: { kind: 'status', status: 429 } }]
   */
  faults?: readonly MockFault[];
}

/** The running Apify mock. */
export interface ApifyApiMock extends MockServer {
  /** Appends items to a dataset (it grows between calls, as during a run). */
  push(datasetId: string, ...items: ApifyItem[]): void;
}

const NO_LIMIT = 999_999_999_999;
const TYPES: Record<string, string> = { 400: 'invalid-request', 401: 'invalid-token', 404: 'record-not-found', 405: 'method-not-allowed', 429: 'rate-limit-exceeded' };

const isEmpty = (item: ApifyItem): boolean => Object.keys(item).length === 0;

/**
 * A local Apify API (`/v2`) as documented (see the README): dataset items in `json`, `jsonl` and
 * `csv` with `offset`, `limit`, `desc`, `clean`, `skipEmpty`, `skipHidden`, `fields`, `omit` and
 * the pagination headers, datasets that grow, the dataset object, key-value store records, Bearer or
 * `?token=` auth, Apify's error bodies, and fault injection.
 *
 * @example
 * ```ts
 * const api = await apifyApiMock({ token: 't', datasets: { d1: [{ a: 1 }] } });
 * await fetch(`${api.url}/v2/datasets/d1/items?offset=0&limit=100`, { headers: { authorization: 'Bearer t' } });
 * ```
 */
export async function apifyApiMock(options: ApifyApiMockOptions = {}): Promise<ApifyApiMock> {
  const token = options.token ?? 'apify_api_test';
  checkMockOptions(options.faults, [], 'dataset');
  const datasets = new Map(Object.entries(options.datasets ?? {}).map(([id, rows]) => [id, new RowStore(rows)]));
  const stores = options.keyValueStores ?? {};
  const runs = options.runs ?? {};
  const created = new Date().toISOString();

  const error = (status: number, message?: string): Reply => {
    const type = TYPES[status] ?? (status >= 500 ? 'internal-server-error' : 'invalid-request');
    const text = message ?? (status === 429 ? 'You have exceeded the rate limit of 60 requests per second' : status === 404 ? 'Record was not found' : `Error ${status}`);
    return json(status, { error: { type, message: text } });
  };
  const datasetId = (req: MockRequest): string | undefined => req.params.id ?? runs[req.params.run ?? '']?.defaultDatasetId;
  const dataset = (req: MockRequest) => datasets.get(datasetId(req) ?? '');

  const items = (req: MockRequest): Reply => {
    const store = dataset(req);
    if (!store) return error(404, 'Dataset was not found');
    const q = req.query;
    const format = q.get('format') ?? 'json';
    const offset = intParam(q.get('offset'), 0);
    const limit = intParam(q.get('limit'), NO_LIMIT);
    if (!(offset >= 0) || !(limit >= 0)) return error(400, 'Parameters offset and limit must be non-negative integers');
    if (!['json', 'jsonl', 'csv'].includes(format)) return error(400, `Format ${format} is not served by this mock`);
    const clean = boolParam(q.get('clean'));
    const skipEmpty = clean || boolParam(q.get('skipEmpty'));
    const skipHidden = clean || boolParam(q.get('skipHidden'));
    const desc = boolParam(q.get('desc'));
    const fields = q.get('fields')?.split(',').filter(Boolean);
    const omit = new Set(q.get('omit')?.split(',').filter(Boolean));
    // Slice the stored items first, then filter: a page can hold fewer items than `limit`.
    const total = store.length;
    const start = Math.min(offset, total);
    const end = Math.min(total, start + limit);
    const window = function* (): Generator<ApifyItem> {
      for (let i = start; i < end; i++) yield store.at(desc ? total - 1 - i : i);
    };
    const shaped = function* (): Generator<ApifyItem> {
      for (const item of window()) {
        if (skipEmpty && isEmpty(item)) continue;
        let out = Object.entries(item).filter(([k]) => !(skipHidden && k.startsWith('#')) && !omit.has(k));
        if (fields) out = fields.filter((f) => f in item && !omit.has(f)).map((f) => [f, item[f]]);
        yield Object.fromEntries(out);
      }
    };
    let count = 0;
    if (skipEmpty) for (const item of window()) count += isEmpty(item) ? 0 : 1;
    else count = end - start;
    const headers = {
      'x-apify-pagination-offset': String(offset),
      'x-apify-pagination-limit': String(limit),
      'x-apify-pagination-count': String(count),
      'x-apify-pagination-total': String(total),
    };
    if (format === 'json') return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: jsonArray(shaped()) };
    if (format === 'jsonl') return { status: 200, headers: { 'content-type': 'application/jsonl; charset=utf-8', ...headers }, body: jsonLines(shaped()) };
    const first = shaped().next().value as ApifyItem | undefined;
    const columns = fields ?? Object.keys(first ?? {});
    return { status: 200, headers: { 'content-type': 'text/csv; charset=utf-8', ...headers }, body: chunks(csvLines(shaped(), columns, { bom: q.get('bom') !== '0' && q.get('bom') !== 'false', quoteValues: false })) };
  };

  const datasetObject = (req: MockRequest): Reply => {
    const store = dataset(req);
    if (!store) return error(404, 'Dataset was not found');
    let clean = 0;
    for (const item of store.slice()) clean += isEmpty(item) ? 0 : 1;
    const id = datasetId(req)!;
    return json(200, { data: { id, name: null, userId: 'mockUser', createdAt: created, modifiedAt: created, accessedAt: new Date().toISOString(), itemCount: store.length, cleanItemCount: clean, actId: null, actRunId: null } });
  };

  const record = (storeId: string | undefined, key: string, req: MockRequest, redirect: boolean): Reply => {
    const found = stores[storeId ?? '']?.[key];
    if (!found) return error(404, 'Record was not found');
    if (redirect) return { status: 302, headers: { location: `${req.origin}/_storage/key-value-stores/${storeId}/records/${encodeURIComponent(key)}` } };
    return { status: 200, headers: { 'content-type': found.contentType ?? 'application/json; charset=utf-8' }, body: found.body };
  };

  const server = await startMock<never>({
    faults: options.faults,
    error,
    authorize(req) {
      const bearer = /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
      const given = bearer ?? req.query.get('token');
      if (!given) return json(401, { error: { type: 'token-not-provided', message: 'Authentication token was not provided' } });
      return given === token ? undefined : json(401, { error: { type: 'invalid-token', message: 'Authentication token is not valid' } });
    },
    decorate: (_req, reply) => ({ ...reply, headers: { ...reply.headers, 'x-ratelimit-limit': '60' } }),
    routes: [
      { methods: ['GET', 'HEAD'], pattern: /^\/v2\/datasets\/(?<id>[^/]+)\/items$/, handle: items },
      { methods: ['GET', 'HEAD'], pattern: /^\/v2\/actor-runs\/(?<run>[^/]+)\/dataset\/items$/, handle: items },
      { methods: ['GET'], pattern: /^\/v2\/datasets\/(?<id>[^/]+)$/, handle: datasetObject },
      { methods: ['GET'], pattern: /^\/v2\/actor-runs\/(?<run>[^/]+)\/dataset$/, handle: datasetObject },
      {
        methods: ['GET'],
        pattern: /^\/v2\/key-value-stores\/(?<id>[^/]+)\/records\/(?<key>[^/]+)$/,
        handle: (req) => record(req.params.id, decodeURIComponent(req.params.key!), req, options.redirectRecords === true),
      },
      {
        methods: ['GET'],
        pattern: /^\/v2\/actor-runs\/(?<run>[^/]+)\/key-value-store\/records\/(?<key>[^/]+)$/,
        handle: (req) => record(runs[req.params.run!]?.defaultKeyValueStoreId, decodeURIComponent(req.params.key!), req, options.redirectRecords === true),
      },
      {
        methods: ['GET'],
        pattern: /^\/_storage\/key-value-stores\/(?<id>[^/]+)\/records\/(?<key>[^/]+)$/,
        public: true,
        handle: (req) => record(req.params.id, decodeURIComponent(req.params.key!), req, false),
      },
    ],
  });
  return {
    ...server,
    push(id, ...rows) {
      const store = datasets.get(id);
      if (!store) throw new TypeError(`Expected a dataset id the mock knows, got ${JSON.stringify(id)}`);
      store.push(...rows);
    },
  };
}
