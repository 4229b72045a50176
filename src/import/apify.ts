/**
 * An Apify run's dataset items, page by page: `apifyItems({ token })`.
 * @module
 */
import { baseUrlOption, nonNegativeInteger, positiveInteger } from '../check-options.ts';
import { ImportError } from './errors.ts';
import { httpJson, pageRetry, type PageRetryOptions } from './http.ts';
import { batchNumbers } from './rows.ts';
import type { Batch, ReadOptions, Source } from './types.ts';

/** Options of {@link apifyItems}, with `maxRetries`, `retryDelayMs` and `timeoutMs` from {@link PageRetryOptions}. */
export interface ApifyItemsOptions extends PageRetryOptions {
  /**
   * The Apify API token (Console → Settings → API & Integrations), sent as `Authorization: Bearer`,
   * never in a URL, a log line or an error.
   * @example process.env.APIFY_TOKEN!
   */
  readonly token: string;
  /**
   * The API's origin (`/v2/...` is appended): another host for a proxy or a local mock.
   * @default 'https://api.apify.com'
   */
  readonly baseUrl?: string;
  /**
   * Skip empty items and hidden fields (top-level keys starting with `#`), as Apify's `clean=1`.
   * Batches may then hold fewer rows than `batchSize` (empty windows are not yielded).
   * @default false
   */
  readonly clean?: boolean;
  /**
   * Only these fields of each item, in this order (Apify's `fields`).
   * @default every field
   * @example ['url', 'title']
   */
  readonly fields?: readonly string[];
  /**
   * Leave out these fields (Apify's `omit`).
   * @default none
   * @example ['html']
   */
  readonly omit?: readonly string[];
}

/** What {@link apifyItems} imports: a dataset. */
export interface ApifyDatasetRef {
  /** The dataset id, e.g. `resource.defaultDatasetId` of an `ACTOR.RUN.SUCCEEDED` event. */
  readonly datasetId: string;
}

/** A dataset item. */
export type ApifyItem = Record<string, unknown>;

/** The run events whose dataset is worth importing: the run has ended, so the dataset no longer grows. */
const ENDED_RUN_EVENTS = new Set(['ACTOR.RUN.SUCCEEDED', 'ACTOR.RUN.FAILED', 'ACTOR.RUN.ABORTED', 'ACTOR.RUN.TIMED_OUT']);

const intHeader = (headers: Headers, name: string): number | undefined => {
  const value = headers.get(name);
  return value !== null && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
};

/**
 * An Apify dataset's items as batches, read with `GET /v2/datasets/{id}/items?format=json&offset=&limit=`
 * (one request per batch, `limit` = `batchSize`), with Node's `fetch`.
 *
 * - From an event: `resource.defaultDatasetId` of `ACTOR.RUN.SUCCEEDED`, and of `ACTOR.RUN.FAILED`,
 *   `ACTOR.RUN.ABORTED` and `ACTOR.RUN.TIMED_OUT` (what the run pushed before it ended). Other events
 *   (`ACTOR.RUN.CREATED`, `ACTOR.RUN.RESURRECTED`: the run is still running; builds) import nothing.
 * - A dataset that grows while it is read is read to its end as of the last page: pages are asked
 *   until one comes back short, never up to a total taken from the first page.
 * - With `clean`, Apify slices `offset`/`limit` before it drops empty items, so a page can be short
 *   and `X-Apify-Pagination-Count` is wrong: the window scanned is computed from
 *   `X-Apify-Pagination-Total`, and the next offset moves by the window, not by the items received
 *   (no item read twice, none skipped).
 * - The cursor's position is the next offset in the dataset: a resumed read asks exactly the
 *   remaining windows, so it gives the same remaining batches.
 * - 408, 429, 5xx, network errors and cut-off bodies are retried (Apify's backoff, see
 *   `retryDelayMs`); 401/403 fail at once with `import.unauthorized`, 404 with `import.not.found`
 *   (unnamed datasets are deleted 7 days after their last use).
 *
 * @example
 * ```ts
 * hooks.on('ACTOR.RUN.SUCCEEDED', importRows(apifyItems({ token }), { batchSize: 500, async write(rows, batch) { await db.upsert(rows) } }));
 * for await (const batch of apifyItems({ token }).read({ datasetId }, { batchSize: 500 })) console.log(batch.rows.length);
 * ```
 */
export function apifyItems(options: ApifyItemsOptions): Source<ApifyDatasetRef, ApifyItem> {
  if (typeof options?.token !== 'string' || options.token === '') throw new TypeError('Expected `token` to be the Apify API token, a non-empty string');
  const origin = baseUrlOption(options.baseUrl ?? 'https://api.apify.com');
  const retry = pageRetry(options);
  const clean = options.clean === true;
  const extra = new URLSearchParams();
  if (clean) extra.set('clean', '1');
  if (options.fields?.length) extra.set('fields', options.fields.join(','));
  if (options.omit?.length) extra.set('omit', options.omit.join(','));
  const headers = { authorization: `Bearer ${options.token}`, accept: 'application/json' };

  async function* read(ref: ApifyDatasetRef, readOptions: ReadOptions = {}): AsyncGenerator<Batch<ApifyItem>> {
    const datasetId = ref.datasetId;
    const limit = positiveInteger('batchSize', readOptions.batchSize ?? 1000);
    const after = readOptions.after;
    let offset = nonNegativeInteger('after.position', Number(after?.position ?? 0));
    const numbers = batchNumbers(datasetId, after);
    const what = `dataset ${datasetId}`;
    for (;;) {
      const query = new URLSearchParams({ format: 'json', offset: String(offset), limit: String(limit) });
      for (const [k, v] of extra) query.set(k, v);
      const page = await httpJson({
        provider: 'apify',
        jobId: datasetId,
        what: 'read a page of items',
        subject: what,
        url: `${origin}/v2/datasets/${encodeURIComponent(datasetId)}/items?${query}`,
        headers,
        secrets: [options.token],
        ...retry,
        signal: readOptions.signal,
        logger: readOptions.logger,
        notFoundHint: 'Unnamed datasets are deleted 7 days after their last use: run the Actor again',
      });
      if (!Array.isArray(page.body)) {
        throw new ImportError('import.invalid', `apify: ${what}: expected a JSON array of items, got ${typeof page.body}`, { provider: 'apify', jobId: datasetId });
      }
      const items = page.body as ApifyItem[];
      // How many stored items this page covered: with `clean` the items received undercount it.
      let scanned = items.length;
      if (clean) {
        const total = intHeader(page.headers, 'x-apify-pagination-total');
        if (total === undefined) {
          throw new ImportError('import.invalid', `apify: ${what}: the answer has no X-Apify-Pagination-Total header, which reading with \`clean\` needs to know where the page ended`, { provider: 'apify', jobId: datasetId });
        }
        scanned = Math.min(limit, Math.max(total - offset, items.length, 0));
      }
      offset += scanned;
      if (items.length > 0) yield numbers.batch(items, page.bytes, offset);
      if (scanned < limit) return;
    }
  }

  return {
    provider: 'apify',
    refOf(event) {
      if (!ENDED_RUN_EVENTS.has(event.type)) return undefined;
      const id = (event.payload as { resource?: { defaultDatasetId?: unknown } } | undefined)?.resource?.defaultDatasetId;
      return typeof id === 'string' && id !== '' ? { datasetId: id } : undefined;
    },
    jobIdOf: (ref) => ref.datasetId,
    read,
  };
}
