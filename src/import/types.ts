import type { Logger } from '../types.ts';

/**
 * One batch of rows read from a provider's results. `index` and `firstRow` are stable across
 * resumptions of the same import (the same job read again gives the same batches), so a writer can
 * upsert by them and be idempotent.
 */
export interface Batch<Row = Record<string, unknown>> {
  /** The batch's position in the import, from 0. */
  readonly index: number;
  /** The position of the batch's first row in the provider's results, from 0. */
  readonly firstRow: number;
  /** The provider's job (or dataset, or task) the rows come from. */
  readonly jobId: string;
  /** The rows, at most the `batchSize` asked for. */
  readonly rows: Row[];
  /** Bytes of the provider's response consumed for these rows (for progress; approximate). */
  readonly bytes: number;
  /**
   * Where to resume after this batch: what a {@link Checkpoint} keeps. Opaque, JSON-serializable,
   * meaningful only to the source that made it.
   */
  readonly cursor: ImportCursor;
}

/** Where an import stands: JSON-serializable, kept by the receiver's backend with the delivery. */
export interface ImportCursor {
  /** Batches written so far (the next batch's `index`). */
  readonly batches: number;
  /** Rows written so far (the next batch's `firstRow`). */
  readonly rows: number;
  /** Source-specific position (an offset, a `next` URL...), when the source needs more than `rows`. */
  readonly position?: string | number;
}

/** Options of {@link Source.read}. */
export interface ReadOptions {
  /**
   * Rows per batch.
   * @default 1000
   */
  readonly batchSize?: number;
  /** Aborts the download promptly (handler timeout, `close()`, or the caller's own). */
  readonly signal?: AbortSignal;
  /** Resume after this point instead of from the start (from a checkpoint). */
  readonly after?: ImportCursor;
  /** Where retries and progress are logged. @default silent */
  readonly logger?: Logger;
}

/**
 * A provider's results as batches of rows: `webScraperData(...)`, `apifyItems(...)`,
 * `thordataResults(...)`, `firecrawlDocuments(...)`. Usable alone (`for await (const batch of
 * source.read(ref))`) or through `importRows(source, ...)` as a receiver handler.
 */
export interface Source<Ref, Row = Record<string, unknown>> {
  /** The provider's name, as in its webhook provider (`webscraper`, `apify`, ...): used in errors and logs. */
  readonly provider: string;
  /**
   * What to import for an event of this provider (the job id, dataset id, file URL...), or
   * `undefined` when the event points at nothing to import (e.g. a failed run).
   */
  refOf(event: { readonly type: string; readonly payload: unknown }): Ref | undefined;
  /** The job id a reference stands for, for batches, logs and errors. */
  jobIdOf(ref: Ref): string;
  /**
   * Reads the results as batches, streaming with bounded memory: the next batch is not read before
   * the consumer asked for it. Retries network errors, 429 and 5xx inside the call; rejects with an
   * {@link ImportError} when the provider refuses (bad token, job gone) or retries are exhausted.
   */
  read(ref: Ref, options?: ReadOptions): AsyncIterable<Batch<Row>>;
  /**
   * Called once after every batch was written (e.g. delete the Web Scraper Cloud job). Must be
   * safe to call again after a crash between its success and the checkpoint recording it.
   */
  complete?(ref: Ref, options?: Pick<ReadOptions, 'signal' | 'logger'>): Promise<void>;
}

/**
 * Durable state for importers, scoped to one receiver and kept by its backend (memory, SQLite,
 * BullMQ): import checkpoints, and the ids seen per job for Firecrawl completeness. Values expire
 * after `ttlMs` (or with their delivery, for checkpoints).
 */
export interface ImportState {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Adds members to a set kept under `key` (created when missing). */
  addToSet(key: string, members: readonly string[], ttlMs: number): Promise<void>;
  /** The members of the set under `key`, in no particular order; empty when missing. */
  members(key: string): Promise<string[]>;
}
