import type { Instruments } from '../telemetry/instruments.ts';
import type { ImportStats } from '../types.ts';

/** How many imports `stats().imports` keeps: the latest. */
export const MAX_IMPORT_STATS = 100;

/** One import's progress, updated in place by `importRows` as its batches are written. */
export interface ImportProgress {
  state: ImportStats['state'];
  rows: number;
  bytes: number;
  batches: number;
  readonly startedAt: number;
  endedAt: number | undefined;
}

/**
 * The receiver's record of the imports its handlers run, reached by `importRows` through the
 * handler context under {@link PROGRESS} (not part of the public context).
 */
export class ImportTracker {
  readonly #imports = new Map<string, { provider: string; jobId: string; deliveryId: string; progress: ImportProgress }>();
  readonly #instruments: Pick<Instruments, 'imported'> | undefined;

  constructor(instruments?: Pick<Instruments, 'imported'>) {
    this.#instruments = instruments;
  }

  /** A batch of `rows` rows, read as `bytes` bytes from `provider`, was written (for the importer metrics). */
  written(provider: string, rows: number, bytes: number): void {
    this.#instruments?.imported(provider, rows, bytes);
  }

  /** Starts (or restarts, for a retry) tracking an import; answers its progress to update. */
  start(provider: string, jobId: string, deliveryId: string, from: { rows: number; bytes: number; batches: number }): ImportProgress {
    const key = `${deliveryId}\0${provider}\0${jobId}`;
    this.#imports.delete(key);
    const progress: ImportProgress = { state: 'running', ...from, startedAt: Date.now(), endedAt: undefined };
    this.#imports.set(key, { provider, jobId, deliveryId, progress });
    if (this.#imports.size > MAX_IMPORT_STATS) this.#imports.delete(this.#imports.keys().next().value as string);
    return progress;
  }

  list(): ImportStats[] {
    const now = Date.now();
    return [...this.#imports.values()].map(({ provider, jobId, deliveryId, progress: p }) => ({
      provider,
      jobId,
      deliveryId,
      state: p.state,
      rows: p.rows,
      bytes: p.bytes,
      batches: p.batches,
      startedAt: new Date(p.startedAt),
      ms: (p.endedAt ?? now) - p.startedAt,
    }));
  }
}

/** Where the handler context carries the receiver's {@link ImportTracker}. */
export const PROGRESS: unique symbol = Symbol('scrapehook.importProgress');
