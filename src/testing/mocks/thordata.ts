import { RowStore, checkMockOptions, chunks, csvLines, intParam, json, jsonArray, startMock, type MockFault, type MockRows, type MockServer, type Reply } from './core.ts';

/** A record of a task's result file. */
export type ThordataRecord = Record<string, unknown>;

/** A task the Thordata mock knows. */
export interface ThordataMockTask {
  /** The task id (32 hex characters in production). */
  id: string;
  /**
   * The status `tasks-status` reports; only `Ready` tasks can be downloaded.
   * @default 'Ready'
   */
  status?: 'Ready' | 'Running' | 'Failed';
  /**
   * The result records.
   * @default []
   */
  rows?: MockRows<ThordataRecord>;
}

/** A Thordata-only fault: HTTP 200 with this error `code` (and `msg`) in the JSON body. */
export interface ThordataCodeFault {
  kind: 'code';
  code: number;
}

/** Options of {@link thordataApiMock}. */
export interface ThordataApiMockOptions {
  /**
   * The `token` header value the API accepts.
   * @default 'thordata-token'
   */
  token?: string;
  /**
   * The `key` header value the API accepts.
   * @default 'thordata-key'
   */
  key?: string;
  /**
   * The `api_key` the `/download?api_key=…&task_id=…&type=…` variant accepts.
   * @default 'thordata-api-key'
   */
  apiKey?: string;
  /**
   * The tasks.
   * @default []
   * @example [{ id: '2e9ddee0582a40a9b1c2d3e4f5a6b7c8', rows: [{ title: 'a' }] }, { id: 'r1', status: 'Running' }]
   */
  tasks?: readonly ThordataMockTask[];
  /**
   * The JSON result file: a JSON array of records, or the `{spider_parameter, data, metadata}`
   * envelope (which one production serves is unconfirmed).
   * @default 'array'
   */
  fileFormat?: 'array' | 'envelope';
  /**
   * How API errors (bad `token`/`key`, unknown task) are answered: HTTP 200 with the error in
   * `code` as documented, or also with that HTTP status (unconfirmed, so switchable).
   * @default 'code'
   */
  errors?: 'code' | 'http';
  /**
   * Faults to inject; `{ kind: 'code', code: 429 }` answers HTTP 200 with that `code`.
   * @default []
   * @example [{ path: '/tasks-download', requests: 1, fault: { kind: 'code', code: 500 } }]
   */
  faults?: readonly MockFault<ThordataCodeFault>[];
}

/** The running Thordata mock. */
export interface ThordataApiMock extends MockServer {
  /** The API base to use instead of `https://openapi.thordata.com/api/web-scraper-api`. */
  readonly apiUrl: string;
  /**
   * The file URL of a task, as a webhook's `resource.jsonUrl` / `csvUrl` carries it.
   * @example api.fileUrl(taskId, 'csv') // 'http://127.0.0.1:…/scrapers/thordata/2026/11/20/<id>.csv'
   */
  fileUrl(taskId: string, type?: 'json' | 'csv'): string;
  /**
   * Expires every file URL handed out so far (webhook URLs and `tasks-download` answers): they
   * now answer `status`; URLs from later `tasks-download` calls work.
   */
  expireUrls(status?: 403 | 404): void;
}

const API = '/api/web-scraper-api';

/**
 * A local Thordata Web Scraper API as documented (see the README): the POST-only form routes
 * `tasks-status`, `tasks-download` and `tasks-list` with `token` + `key` headers and errors in the
 * body's `code`; the result files (a JSON array, or the envelope variant; CSV) at plain URLs and at
 * `/download?api_key=`; URL expiry; fault injection.
 *
 * @example
 * ```ts
 * const api = await thordataApiMock({ tasks: [{ id: 'abc', rows: [{ title: 'a' }] }] });
 * await fetch(api.fileUrl('abc')); // [{"title":"a"}]
 * ```
 */
export async function thordataApiMock(options: ThordataApiMockOptions = {}): Promise<ThordataApiMock> {
  const token = options.token ?? 'thordata-token';
  const key = options.key ?? 'thordata-key';
  const apiKey = options.apiKey ?? 'thordata-api-key';
  checkMockOptions(options.faults, (options.tasks ?? []).map((t) => t.id), 'task');
  const tasks = new Map((options.tasks ?? []).map((task) => [task.id, { task, rows: new RowStore(task.rows) }]));
  let issued = 0;
  let expiredUpTo = -1;
  let expiredStatus = 404;

  const codeReply = (code: number, msg: string): Reply => json(options.errors === 'http' && code !== 200 ? code : 200, { code, msg, data: null });
  // A `status` fault is a real HTTP status (with the same `code` in the body): both are plausible.
  const error = (status: number, message?: string): Reply => json(status, { code: status, msg: message ?? `Error ${status}`, data: null });
  const task = (id: string | null) => (id ? tasks.get(id) : undefined);

  const file = (id: string | undefined, type: string | undefined): Reply => {
    const found = task(id ?? null);
    if (!found || found.task.status !== undefined && found.task.status !== 'Ready') return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' };
    if (type === 'csv') {
      const first = found.rows.length ? found.rows.at(0) : {};
      return { status: 200, headers: { 'content-type': 'text/csv' }, body: chunks(csvLines(found.rows.slice(), Object.keys(first), { bom: false, quoteValues: false })) };
    }
    if (type !== 'json') return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' };
    const array = jsonArray(found.rows.slice());
    const body = options.fileFormat === 'envelope'
      ? (function* () {
          yield `{"spider_parameter":${JSON.stringify({ url: 'https://example.com/' })},"data":`;
          yield* array;
          yield `,"metadata":${JSON.stringify({ task_id: found.task.id, created_at: '2026-11-20T06:33:14Z', status: 'ready' })}}`;
        })()
      : array;
    return { status: 200, headers: { 'content-type': 'application/json' }, body };
  };

  const server = await startMock<ThordataCodeFault>({
    faults: options.faults,
    error,
    customFault: (fault) => json(200, { code: fault.code, msg: fault.code === 429 ? 'Too many requests' : fault.code === 300 ? 'Not collected' : `Error ${fault.code}`, data: null }),
    authorize(req) {
      if (!req.path.startsWith(API)) return undefined;
      if (req.headers.token !== token || req.headers.key !== key) return codeReply(401, 'Invalid token or key');
      return undefined;
    },
    routes: [
      {
        methods: ['POST'],
        pattern: /^\/api\/web-scraper-api\/tasks-status$/,
        handle(req) {
          const ids = (new URLSearchParams(req.body).get('tasks_ids') ?? '').split(',').filter(Boolean);
          if (!ids.length) return codeReply(400, 'tasks_ids is required');
          return json(200, { code: 200, data: ids.map((id) => ({ task_id: id, status: task(id) ? (task(id)!.task.status ?? 'Ready') : 'Failed' })), msg: 'ok' });
        },
      },
      {
        methods: ['POST'],
        pattern: /^\/api\/web-scraper-api\/tasks-download$/,
        handle(req) {
          const form = new URLSearchParams(req.body);
          const id = form.get('tasks_id');
          const type = form.get('type') ?? 'json';
          const found = task(id);
          if (!found || (found.task.status ?? 'Ready') !== 'Ready') return codeReply(404, 'Task not found or not ready');
          if (type !== 'json' && type !== 'csv') return codeReply(400, `Type ${type} is not served by this mock`);
          issued += 1;
          return json(200, { code: 200, data: { download: `${req.origin}/scrapers/thordata/2026/11/20/${id}.${type}?sign=${issued}`, tasks_ids: id }, msg: 'ok' });
        },
      },
      {
        methods: ['POST'],
        pattern: /^\/api\/web-scraper-api\/tasks-list$/,
        handle(req) {
          const form = new URLSearchParams(req.body);
          const page = Math.max(1, intParam(form.get('page'), 1) || 1);
          const size = Math.max(1, intParam(form.get('size'), 20) || 20);
          const all = [...tasks.values()].map(({ task: t, rows }) => ({
            task_id: t.id, created_time: 1763620394, end_time: 1763620424, prodect_id: 3, url: '{"spider_id":"3"}', api_url: '', api_code: 200,
            api_result: '', api_error_msg: '', api_response_time: 28000, success_rate: 100, file_size: rows.length, error_number: 0, type: 0, api_key: apiKey,
          }));
          return json(200, { code: 200, data: { count: all.length, list: all.slice((page - 1) * size, page * size) }, msg: 'ok' });
        },
      },
      {
        methods: ['GET'],
        pattern: /^\/scrapers\/thordata\/\d{4}\/\d{2}\/\d{2}\/(?<id>[^/.]+)\.(?<type>json|csv)$/,
        public: true,
        handle(req) {
          const sign = intParam(req.query.get('sign'), 0);
          if (sign <= expiredUpTo) return { status: expiredStatus, headers: { 'content-type': 'text/plain' }, body: expiredStatus === 403 ? 'Request has expired' : 'Not Found' };
          return file(req.params.id, req.params.type);
        },
      },
      {
        methods: ['GET'],
        pattern: /^\/download$/,
        public: true,
        handle(req) {
          if (req.query.get('api_key') !== apiKey) return json(401, { code: 401, msg: 'Invalid api_key' });
          return file(req.query.get('task_id') ?? undefined, req.query.get('type') ?? 'json');
        },
      },
    ],
  });
  return {
    ...server,
    apiUrl: `${server.url}${API}`,
    fileUrl: (taskId, type = 'json') => `${server.url}/scrapers/thordata/2026/11/20/${taskId}.${type}`,
    expireUrls(status = 404) {
      expiredUpTo = issued;
      expiredStatus = status;
    },
  };
}
