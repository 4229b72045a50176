import { baseUrlOption, positiveInteger } from '../check-options.ts';
import { ImportError } from './errors.ts';
import { httpText, importError, openOnce, type HttpCall, type HttpResponse, type HttpRetryOptions } from './http.ts';
import { csvRows, downloadBatches, jsonArrayRows } from './rows.ts';
import type { Batch, ReadOptions, Source } from './types.ts';

/** Thordata's Web Scraper API (tasks-status, tasks-download, tasks-list). */
const DEFAULT_BASE_URL = 'https://openapi.thordata.com/api/web-scraper-api';

/** Options of {@link thordataResults}. */
export interface ThordataResultsOptions {
  /** The public API `token` (Dashboard → My Account), sent as the `token` header of `tasks-download`. */
  token: string;
  /** The public API `key` (Dashboard → My Account), sent as the `key` header of `tasks-download`. */
  key: string;
  /**
   * The account's API key, added as `api_key` to a `…/download?task_id=…` file URL that lacks it
   * (some of Thordata's download URLs need it). Redacted from every error and log line.
   * @default none
   */
  apiKey?: string;
  /**
   * The result file to read: the JSON file (an array of records, or an object holding them in
   * `data`) or the CSV file (every value a string).
   * @default 'json'
   */
  format?: 'json' | 'csv';
  /**
   * The Web Scraper API base (a mock's `apiUrl` in tests).
   * @default 'https://openapi.thordata.com/api/web-scraper-api'
   */
  baseUrl?: string;
  /**
   * Retries and timeouts of the API calls and the download.
   * @default { attempts: 5, minDelayMs: 1000, maxDelayMs: 30_000, maxWaitMs: 120_000, stallTimeoutMs: 30_000 }
   */
  retry?: HttpRetryOptions;
}

/** What {@link thordataResults} imports: a task's result file. */
export interface ThordataRef {
  /** The task id (`resource.taskId`). */
  readonly taskId: string;
  /**
   * The file URL the webhook gave (`resource.jsonUrl` or `csvUrl`); without it, or when it has
   * expired (403/404), the URL is asked of `tasks-download`.
   */
  readonly url?: string | undefined;
}

/** A record of a Thordata result file. */
export type ThordataRow = Record<string, unknown>;

/**
 * The result file of a Thordata Web Scraper task, as batches of rows: the file from the webhook's
 * `resource.jsonUrl` (or `csvUrl`), or from `POST tasks-download` (headers `token` + `key`) when
 * the webhook gave none or the URL has expired (403/404).
 *
 * - The JSON file is parsed as a stream with bounded memory (`@streamparser/json`), whether it is
 *   a plain array of records or the `{spider_parameter, data: [...], metadata}` envelope (which one
 *   Thordata serves is not documented).
 * - API errors count whether they come as the HTTP status or in the body's `code` (HTTP 200 with
 *   `code: 401`): 401/403 → `import.unauthorized`, 404 → `import.not.found` (not retried); 429 and
 *   5xx are retried; `code: 300` (not collected yet) → `import.not.ready` (retried by the queue).
 * - A download that breaks off is downloaded again, skipping the rows already handed out;
 *   resuming after a cursor does the same (no Range support).
 * - `refOf` takes `resource.taskId` and the file URL from `ACTOR.RUN.SUCCEEDED` events.
 *
 * @example
 * ```ts
 * hooks.on('ACTOR.RUN.SUCCEEDED', importRows(thordataResults({ token, key }), {
 *   async write(rows, batch) { await db.insertMany(rows); },
 * }));
 * ```
 * @throws {TypeError} when `token` or `key` is missing or an option is malformed.
 */
export function thordataResults(options: ThordataResultsOptions): Source<ThordataRef, ThordataRow> {
  for (const name of ['token', 'key'] as const) {
    if (typeof options?.[name] !== 'string' || options[name] === '') {
      throw new TypeError(`Expected \`${name}\` to be a non-empty string (Thordata Dashboard → My Account)`);
    }
  }
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '')) {
    throw new TypeError('Expected `apiKey` to be a non-empty string when given');
  }
  const format = options.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new TypeError(`Expected \`format\` to be 'json' or 'csv', got ${JSON.stringify(format)}`);
  const base = baseUrlOption(options.baseUrl ?? DEFAULT_BASE_URL);
  const secrets = [options.token, options.key, ...(options.apiKey ? [options.apiKey, encodeURIComponent(options.apiKey)] : [])];
  const common = (ref: ThordataRef, read: Pick<ReadOptions, 'signal' | 'logger'>): Omit<HttpCall, 'what' | 'url'> => ({
    provider: 'thordata',
    jobId: ref.taskId,
    signal: read.signal,
    logger: read.logger,
    retry: options.retry,
    secrets,
    unauthorizedHint: 'check `token` and `key` (Thordata Dashboard → My Account), and `apiKey` for `/download` URLs',
    notFoundHint: 'The task or its result file does not exist (unknown task, or past the retention of the result files): nothing to import; replay the dead letter if it comes back',
    invalidHint: 'This is not a documented answer: check `baseUrl` and `format`, and report it if they are right',
  });

  /** The file URL from `tasks-download`. */
  const resolve = async (ref: ThordataRef, read: Pick<ReadOptions, 'signal' | 'logger'>): Promise<string> => {
    const call: HttpCall = {
      ...common(ref, read),
      what: 'get the result file URL (tasks-download)',
      url: `${base}/tasks-download`,
      method: 'POST',
      headers: { token: options.token, key: options.key, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ tasks_id: ref.taskId, type: format }).toString(),
      // Errors come in the body's `code` (HTTP 200 with code 401...); 300 "not collected" is handled below.
      statusOf: (status, text) => {
        const code = codeOf(text);
        return code === undefined || code === 300 ? status : code;
      },
    };
    const { text } = await httpText(call);
    let body: { code?: unknown; msg?: unknown; data?: { download?: unknown } | null };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw importError(call, 'import.invalid', 'the answer is not JSON. Check `baseUrl`.');
    }
    if (Number(body.code) === 300) throw importError(call, 'import.not.ready', `the task's results are not collected yet (code 300${typeof body.msg === 'string' ? `: ${body.msg}` : ''}). The delivery is retried later.`);
    const download = body.data?.download;
    if (typeof download !== 'string' || download === '') throw importError(call, 'import.invalid', 'the answer has no `data.download` URL.');
    return download;
  };

  const withApiKey = (url: string): string => {
    if (!options.apiKey) return url;
    const parsed = new URL(url);
    if (!/\/download$/.test(parsed.pathname) || parsed.searchParams.has('api_key')) return url;
    parsed.searchParams.set('api_key', options.apiKey);
    return parsed.toString();
  };

  return {
    provider: 'thordata',
    refOf(event) {
      if (event.type !== 'ACTOR.RUN.SUCCEEDED') return undefined;
      const resource = (event.payload as { resource?: { taskId?: unknown; jsonUrl?: unknown; csvUrl?: unknown } } | null)?.resource;
      const taskId = resource?.taskId;
      if ((typeof taskId !== 'string' && typeof taskId !== 'number') || String(taskId) === '') return undefined;
      const url = format === 'csv' ? resource?.csvUrl : resource?.jsonUrl;
      return typeof url === 'string' && url !== '' ? { taskId: String(taskId), url } : { taskId: String(taskId) };
    },
    jobIdOf: (ref) => ref.taskId,
    read(ref, read = {}): AsyncIterable<Batch<ThordataRow>> {
      const batchSize = positiveInteger('batchSize', read.batchSize ?? 1000);
      if (typeof ref?.taskId !== 'string' || ref.taskId === '') throw new TypeError(`Expected \`taskId\` to be a non-empty string, got ${String(ref?.taskId)}`);
      let url = ref.url;
      const what = `download the ${format === 'csv' ? 'CSV' : 'JSON'} result file`;
      const fileCall = (): HttpCall => ({ ...common(ref, read), what, url: withApiKey(url!) });
      /** Opens the file; a URL that answers 403/404 (expired) is replaced through tasks-download, once per attempt. */
      const open = async (): Promise<HttpResponse> => {
        try {
          return await openOnce(fileCall());
        } catch (error) {
          if (!(error instanceof ImportError) || (error.status !== 403 && error.status !== 404)) throw error;
          read.logger?.info({ provider: 'thordata', jobId: ref.taskId, status: error.status }, `thordata: the result file URL answered ${error.status}; asking tasks-download for a new one`);
          url = await resolve(ref, read);
          return openOnce(fileCall());
        }
      };
      const notFile = (code: number, msg: string | undefined): Error => {
        const call = fileCall();
        const said = `code ${code}${msg ? `: ${msg}` : ''}`;
        if (code === 401 || code === 403) return importError(call, 'import.unauthorized', `the file URL answered an API error (${said}). Check \`apiKey\`, then replay the dead letter.`, { status: code });
        if (code === 404) return importError(call, 'import.not.found', `the file URL answered an API error (${said}): the task or its file is gone.`, { status: code });
        return importError(call, 'import.unavailable', `the file URL answered an API error (${said}). The delivery is retried later.`, { status: code });
      };
      return (async function* () {
        if (url === undefined) url = await resolve(ref, read); // the webhook gave no URL
        yield* downloadBatches<ThordataRow>({
          call: fileCall(),
          jobId: ref.taskId,
          batchSize,
          after: read.after,
          open,
          rows: (response, skip) => (format === 'csv' ? csvRows(response.chunks(), skip) : (jsonArrayRows(response.chunks(), skip, notFile) as AsyncIterable<ThordataRow[]>)),
        });
      })();
    },
  };
}

/** The `code` of a JSON answer, when it has one. */
function codeOf(text: string): number | undefined {
  try {
    const code = (JSON.parse(text) as { code?: unknown } | null)?.code;
    const number = Number(code);
    return code !== undefined && code !== null && Number.isInteger(number) ? number : undefined;
  } catch {
    return undefined;
  }
}
