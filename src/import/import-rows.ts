import { positiveInteger } from '../check-options.ts';
import type { HandlerContext, WebhookEvent } from '../types.ts';
import { PROGRESS, type ImportProgress, type ImportTracker } from './progress.ts';
import type { Batch, ImportCursor, Source } from './types.ts';

/** What `write` gets besides the rows: the handler's context and the event being handled. */
export interface ImportContext extends HandlerContext {
  /** The event whose import this is. */
  readonly event: WebhookEvent;
}

/** Options of {@link importRows}. */
export interface ImportRowsOptions<Row> {
  /**
   * Rows per batch: what one `write` call gets at most.
   * @default 1000
   */
  batchSize?: number;
  /**
   * Writes one batch. The next batch is not read until it resolved (backpressure); once it
   * resolved, the batch counts as written and is checkpointed. After a crash between the two, the
   * batch is written again (once): upsert by `batch.index` or `batch.firstRow`, which are the same
   * across resumptions, to make that harmless. A throw fails the attempt, which is retried from
   * the last checkpoint.
   * @example
   * ```ts
   * async write(rows, batch) {
   *   await db.upsert('imports', { job: batch.jobId, batch: batch.index, rows });
   * }
   * ```
   */
  write(rows: Row[], batch: Batch<Row>, ctx: ImportContext): unknown;
  /**
   * How long a checkpoint is kept at most (it also goes with its delivery, when the store deletes
   * that): a dead letter replayed later than this imports from the start again.
   * @default 30 days
   */
  checkpointTtlMs?: number;
}

/** A checkpoint as kept under `import:<provider>:<job id>` in the delivery's import state. */
export interface ImportCheckpoint {
  readonly provider: string;
  readonly jobId: string;
  /** Where to resume: the cursor of the last batch written. */
  readonly cursor: ImportCursor | undefined;
  readonly rows: number;
  readonly bytes: number;
  readonly batches: number;
  /** Every batch was written. */
  readonly written: boolean;
  /** `source.complete()` succeeded too: the import is done and is never run again. */
  readonly done: boolean;
  /** Epoch milliseconds of the last change. */
  readonly updatedAt: number;
}

const DEFAULT_CHECKPOINT_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * A receiver handler that imports the rows an event points at: it asks `source.refOf(event)` what
 * to import (nothing, logged at debug, when that is `undefined`), reads the results batch by batch
 * and awaits `write` for each before reading on, checkpoints after each batch in the receiver's
 * backend (`ctx.importState`), then calls `source.complete()` once (e.g. deletes the Web Scraper
 * Cloud job). A retry, a replay or the run after a crash resumes after the last batch written; once
 * done, the delivery's handlers may run again without importing again.
 *
 * An `ImportError` with `retryable: false` (bad API token, job gone) makes the delivery a dead
 * letter at once, with the error's message; other errors are retried with the receiver's backoff.
 *
 * @example
 * ```ts
 * hooks.on('scrapingjob.finished', importRows(webScraperData({ apiToken, deleteJob: true }), {
 *   batchSize: 1000,
 *   async write(rows, batch, ctx) {
 *     await db.insertMany(rows); // or upsert by batch.index
 *   },
 * }));
 * ```
 * @throws {TypeError} when an option is out of range.
 */
export function importRows<Ref, Row>(source: Source<Ref, Row>, options: ImportRowsOptions<Row>): (event: WebhookEvent, ctx: HandlerContext) => Promise<void> {
  if (typeof source !== 'object' || source === null || typeof source.read !== 'function' || typeof source.refOf !== 'function') {
    throw new TypeError(`Expected \`source\` to be an import source (webScraperData(...), apifyItems(...), ...), got ${source === null ? 'null' : typeof source}`);
  }
  if (typeof options !== 'object' || options === null || typeof options.write !== 'function') {
    throw new TypeError('Expected options with a `write(rows, batch, ctx)` function');
  }
  const batchSize = positiveInteger('batchSize', options.batchSize ?? 1000);
  const ttlMs = positiveInteger('checkpointTtlMs', options.checkpointTtlMs ?? DEFAULT_CHECKPOINT_TTL_MS);
  const { write } = options;
  const { provider } = source;

  return async function importRowsHandler(event, ctx) {
    const ref = source.refOf(event);
    if (ref === undefined) {
      ctx.logger.debug({ id: event.id, type: event.type, provider }, 'scrapehook: nothing to import for this event');
      return;
    }
    const jobId = source.jobIdOf(ref);
    const key = `import:${provider}:${jobId}`;
    const state = ctx.importState;
    const saved = parse(await state.get(key));
    if (saved?.done) {
      ctx.logger.debug({ id: event.id, provider, jobId }, 'scrapehook: this import is done already; not run again');
      return;
    }
    let checkpoint: ImportCheckpoint = saved ?? { provider, jobId, cursor: undefined, rows: 0, bytes: 0, batches: 0, written: false, done: false, updatedAt: Date.now() };
    const tracker = (ctx as HandlerContext & { readonly [PROGRESS]?: ImportTracker })[PROGRESS];
    const progress: ImportProgress = tracker?.start(provider, jobId, event.id, checkpoint) ?? {
      state: 'running',
      rows: checkpoint.rows,
      bytes: checkpoint.bytes,
      batches: checkpoint.batches,
      startedAt: Date.now(),
      endedAt: undefined,
    };
    const save = async (next: ImportCheckpoint) => {
      checkpoint = next;
      await state.set(key, JSON.stringify(next), ttlMs);
    };
    const writeCtx: ImportContext = {
      get signal() {
        return ctx.signal;
      },
      logger: ctx.logger,
      importState: state,
      event,
    };
    const log = { id: event.id, provider, jobId };
    if (saved) ctx.logger.info({ ...log, rows: saved.rows, batches: saved.batches }, 'scrapehook: resuming an import after its last batch written');
    try {
      if (!checkpoint.written) {
        const batches = source.read(ref, { batchSize, signal: ctx.signal, logger: ctx.logger, ...(checkpoint.cursor ? { after: checkpoint.cursor } : {}) });
        for await (const batch of batches) {
          await write(batch.rows, batch, writeCtx);
          await save({
            ...checkpoint,
            cursor: batch.cursor,
            rows: checkpoint.rows + batch.rows.length,
            bytes: checkpoint.bytes + batch.bytes,
            batches: checkpoint.batches + 1,
            updatedAt: Date.now(),
          });
          progress.rows = checkpoint.rows;
          progress.bytes = checkpoint.bytes;
          progress.batches = checkpoint.batches;
          tracker?.written(provider, batch.rows.length, batch.bytes);
          ctx.logger.debug({ ...log, batch: batch.index, firstRow: batch.firstRow, rows: batch.rows.length, bytes: batch.bytes }, 'scrapehook: imported a batch');
        }
        await save({ ...checkpoint, written: true, updatedAt: Date.now() });
      }
      await source.complete?.(ref, { signal: ctx.signal, logger: ctx.logger });
      await save({ ...checkpoint, done: true, updatedAt: Date.now() });
    } catch (error) {
      // Logged by the receiver, as a retry or as a dead letter (an ImportError with retryable: false).
      progress.state = 'failed';
      progress.endedAt = Date.now();
      throw error;
    }
    progress.state = 'done';
    progress.endedAt = Date.now();
    ctx.logger.info(
      { ...log, rows: checkpoint.rows, bytes: checkpoint.bytes, batches: checkpoint.batches, ms: progress.endedAt - progress.startedAt },
      'scrapehook: imported a job',
    );
  };
}

function parse(value: string | undefined): ImportCheckpoint | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as ImportCheckpoint;
    return typeof parsed === 'object' && parsed !== null && typeof parsed.batches === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}
