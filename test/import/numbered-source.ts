import { ImportError } from '../../src/import/errors.ts';
import type { Batch, ReadOptions, Source } from '../../src/import/types.ts';

export interface NumberedRow {
  n: number;
  job: string;
}

/** What a {@link numberedSource} was asked: for the tests' assertions. */
export interface SourceCalls {
  /** Each read's `after.batches` (undefined: from the start). */
  reads: (number | undefined)[];
  /** Job ids completed, in order. */
  completed: string[];
}

/**
 * An in-test source: the job named by a `crawl.completed` event's `id` has `rows` rows
 * `{ n, job }`. A job id starting with `gone` answers a non-retryable ImportError (as a 404 would);
 * `flaky` fails once with a retryable one. Reads resume from `after`, as a real source does.
 */
export function numberedSource(options: { rows: number }): Source<{ jobId: string }, NumberedRow> & { calls: SourceCalls } {
  const calls: SourceCalls = { reads: [], completed: [] };
  let flakyFailed = false;
  return {
    provider: 'numbers',
    calls,
    refOf(event) {
      return event.type === 'crawl.completed' ? { jobId: (event.payload as { id: string }).id } : undefined;
    },
    jobIdOf: (ref) => ref.jobId,
    async *read(ref, read: ReadOptions = {}): AsyncIterable<Batch<NumberedRow>> {
      calls.reads.push(read.after?.batches);
      const { jobId } = ref;
      if (jobId.startsWith('gone')) {
        throw new ImportError('import.not.found', `numbers: job ${jobId} is gone (404); it cannot be imported, check the job id`, { provider: 'numbers', jobId, status: 404 });
      }
      const size = read.batchSize ?? 1000;
      let index = read.after?.batches ?? 0;
      let first = read.after?.rows ?? 0;
      while (first < options.rows) {
        read.signal?.throwIfAborted();
        if (jobId.startsWith('flaky') && index === 2 && !flakyFailed) {
          flakyFailed = true;
          throw new ImportError('import.unavailable', `numbers: job ${jobId} answered 503`, { provider: 'numbers', jobId, status: 503 });
        }
        const count = Math.min(size, options.rows - first);
        const rows = Array.from({ length: count }, (_, i) => ({ n: first + i, job: jobId }));
        const batch: Batch<NumberedRow> = { index, firstRow: first, jobId, rows, bytes: count * 10, cursor: { batches: index + 1, rows: first + count } };
        yield batch;
        index++;
        first += count;
      }
    },
    async complete(ref) {
      calls.completed.push(ref.jobId);
    },
  };
}
