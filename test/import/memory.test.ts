import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { thordataResults } from '../../src/import/thordata.ts';
import type { Batch } from '../../src/import/types.ts';
import { webScraperData } from '../../src/import/web-scraper.ts';
import { thordataApiMock, webScraperApiMock, type MockServer } from '../../src/testing/index.ts';

// Bounded memory on large files generated lazily by the mocks (nothing is ever whole in memory on
// the server side): what the import keeps (heap and RSS after a full GC, sampled every 20 batches)
// stays far under the file's size (~100 MB), and does not grow with it (measured by hand: the same
// RSS growth, ~44 MB, at 50 MB and 200 MB of JSON Lines). Without the GC, V8 lets garbage pile up before collecting it,
// which says nothing about what the importer holds.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const ROWS = 200_000;
const filler = 'lorem ipsum dolor sit amet, '.repeat(16); // ~450 bytes
const row = (i: number) => ({ i, title: `Item ${i}`, text: filler });
const MB = 1024 * 1024;

let api: MockServer | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

beforeAll(async () => {
  // Warm up: the first fetch loads undici and the parsers, which is not the import's memory.
  const mock = await webScraperApiMock({ token: 't', jobs: [{ id: 1, rows: [{ a: 1 }] }] });
  for await (const _ of webScraperData({ apiToken: 't', baseUrl: mock.apiUrl }).read({ jobId: 1 }));
  await mock.close();
});

async function measure(batches: AsyncIterable<Batch<Record<string, unknown>>>): Promise<{ rows: number; bytes: number; growth: number; heap: number }> {
  gc();
  const base = process.memoryUsage();
  let peak = base.rss;
  let heap = base.heapUsed;
  let rows = 0;
  let bytes = 0;
  let expected = 0;
  for await (const batch of batches) {
    expect(batch.firstRow).toBe(expected);
    expect(batch.rows[0]!.i).toBe(expected);
    expected += batch.rows.length;
    rows += batch.rows.length;
    bytes += batch.bytes;
    if (batch.index % 20 === 0) {
      gc();
      const now = process.memoryUsage();
      peak = Math.max(peak, now.rss);
      heap = Math.max(heap, now.heapUsed);
    }
  }
  return { rows, bytes, growth: peak - base.rss, heap: heap - base.heapUsed };
}

describe('importers stream with bounded memory', () => {
  it('webScraperData: ~100 MB of JSON Lines, the heap not growing with the file', { timeout: 180_000 }, async () => {
    // What the importer holds is the heap after a full GC: it must stay small whatever the file's
    // size. RSS also holds V8's young generation, malloc arenas and the in-process mock's socket
    // buffers, whose size is the runtime's own and noisy (about 40 MB on Node 20; 45 to 95 MB on
    // Node 24 for this same file): it is bounded here only against gross buffering (under the file's
    // size), and measured for a 1 GB import, with the mock in another process, by `npm run bench:import`.
    const read = async (rows: number) => {
      const mock = await webScraperApiMock({ token: 't', rateLimit: false, jobs: [{ id: 7, rows: { count: rows, row } }] });
      api = mock;
      const result = await measure(webScraperData({ apiToken: 't', baseUrl: mock.apiUrl }).read({ jobId: 7 }, { batchSize: 1000 }));
      await mock.close();
      api = undefined;
      expect(result.rows).toBe(rows);
      return result;
    };
    const quarter = await read(ROWS / 4);
    const whole = await read(ROWS);
    expect(whole.bytes).toBeGreaterThan(90 * MB);
    console.log(`JSON Lines: ${(whole.bytes / MB).toFixed(0)} MB, RSS growth ${(whole.growth / MB).toFixed(1)} MB (a quarter of it: ${(quarter.growth / MB).toFixed(1)} MB), heap growth ${(whole.heap / MB).toFixed(1)} MB`);
    expect(whole.growth).toBeLessThan(whole.bytes);
    // Three quarters more of the file (~80 MB, far more as parsed rows) leave the heap as it was.
    expect(whole.heap - quarter.heap).toBeLessThan(8 * MB);
    expect(whole.heap).toBeLessThan(16 * MB);
  });

  it.each(['array', 'envelope'] as const)('thordataResults: ~100 MB JSON %s', { timeout: 300_000 }, async (fileFormat) => {
    const mock = await thordataApiMock({ fileFormat, tasks: [{ id: 'big', rows: { count: ROWS, row } }] });
    api = mock;
    const result = await measure(thordataResults({ token: 'thordata-token', key: 'thordata-key', baseUrl: mock.apiUrl }).read({ taskId: 'big', url: mock.fileUrl('big') }, { batchSize: 1000 }));
    expect(result.rows).toBe(ROWS);
    expect(result.bytes).toBeGreaterThan(90 * MB);
    console.log(`JSON ${fileFormat}: ${(result.bytes / MB).toFixed(0)} MB, RSS growth ${(result.growth / MB).toFixed(1)} MB, heap growth ${(result.heap / MB).toFixed(1)} MB`);
    expect(result.growth).toBeLessThan(result.bytes); // see above: RSS is the runtime's as much as ours
    expect(result.heap).toBeLessThan(16 * MB);
  });
});
