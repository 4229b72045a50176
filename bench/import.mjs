// `npm run bench:import`: rows/s of webScraperData over a large JSON Lines download from the local
// Web Scraper Cloud mock, against a floor measured in the same run: the same download with
// Node's fetch + split lines + JSON.parse, nothing else (no batches, retries, stall timer,
// cursors). Rounds alternate floor and importer; the ratio is taken within each round. Then one
// importer pass over a larger file reports the RSS growth (peak RSS during the import minus RSS
// before it, no forced GC: what a user's process sees).
//
// Environment:
//   BENCH_IMPORT_MB (256)       size of the file for the throughput rounds
//   BENCH_IMPORT_ROUNDS (3)     rounds (floor + importer each)
//   BENCH_IMPORT_RSS_MB (1024)  size of the file for the RSS pass; 0 skips it
//   BENCH_IMPORT_BATCH (1000)   batchSize
//   BENCH_BUILD                 auto (default) | always | never, as for `npm run bench`
//
// The mock runs in a child process pinned to core 1, the import in this one pinned to core 0 (when
// taskset works). Do not run it on a busy machine and expect stable absolute numbers: read the ratio.
import { ensureBuilt, envNumber, installCleanup, median, pinSelf, spawnNode, stopChild, waitMessage } from './lib.mjs';

const ROW_BYTES = 560; // about one generated record with its newline
const MB = 1024 * 1024;
const sizeMb = envNumber('BENCH_IMPORT_MB', 256);
const rounds = envNumber('BENCH_IMPORT_ROUNDS', 3);
const rssMb = process.env.BENCH_IMPORT_RSS_MB === '0' ? 0 : envNumber('BENCH_IMPORT_RSS_MB', 1024);
const batchSize = envNumber('BENCH_IMPORT_BATCH', 1000);

installCleanup();
const built = ensureBuilt(process.env.BENCH_BUILD || 'auto');
console.log(built.message);
if (!built.ok) process.exit(1);
pinSelf(0);
const { webScraperData } = await import('../dist/index.js');

async function startMock(rows) {
  const child = spawnNode('import-mock.mjs', [String(rows)], { core: 1, label: 'mock' });
  const { apiUrl } = await waitMessage(child, 'ready', 30_000);
  return { child, apiUrl };
}

/** The floor: fetch, decode, split on \n, JSON.parse. */
async function floor(apiUrl) {
  const res = await fetch(`${apiUrl}scraping-job/1/json?api_token=bench-token`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let carry = '';
  let rows = 0;
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    const text = carry + decoder.decode(value, { stream: true });
    let start = 0;
    let end;
    while ((end = text.indexOf('\n', start)) !== -1) {
      if (end > start) {
        JSON.parse(text.slice(start, end));
        rows += 1;
      }
      start = end + 1;
    }
    carry = text.slice(start);
  }
  return { rows, bytes };
}

async function importer(apiUrl, sampleRss = false) {
  let rows = 0;
  let bytes = 0;
  let peak = 0;
  for await (const batch of webScraperData({ apiToken: 'bench-token', baseUrl: apiUrl }).read({ jobId: 1 }, { batchSize })) {
    rows += batch.rows.length;
    bytes += batch.bytes;
    if (sampleRss && batch.index % 10 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  return { rows, bytes, peak };
}

async function timed(fn) {
  const t0 = performance.now();
  const r = await fn();
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}

const rowsFor = (mb) => Math.max(1000, Math.round((mb * MB) / ROW_BYTES));
const mock = await startMock(rowsFor(sizeMb));
// Warm-up: load fetch/undici and JIT both paths on a short read.
await floor(mock.apiUrl);
await importer(mock.apiUrl);

const results = [];
for (let round = 1; round <= rounds; round++) {
  const f = await timed(() => floor(mock.apiUrl));
  const i = await timed(() => importer(mock.apiUrl));
  if (f.rows !== i.rows) throw new Error(`row counts differ: floor ${f.rows}, importer ${i.rows}`);
  const r = { round, rows: i.rows, mb: i.bytes / MB, floorRps: f.rows / f.seconds, importRps: i.rows / i.seconds };
  r.ratio = r.importRps / r.floorRps;
  results.push(r);
  console.log(`round ${round}: ${r.rows} rows (${r.mb.toFixed(0)} MB)  floor ${Math.round(r.floorRps)} rows/s  webScraperData ${Math.round(r.importRps)} rows/s  ratio ${r.ratio.toFixed(2)}`);
}
await stopChild(mock.child);
const ratio = median(results.map((r) => r.ratio));
console.log(`\nmedian ratio webScraperData / floor: ${ratio.toFixed(2)} (target >= 0.80) ${ratio >= 0.8 ? 'OK' : 'BELOW TARGET'}`);

if (rssMb > 0) {
  const big = await startMock(rowsFor(rssMb));
  const before = process.memoryUsage().rss;
  const r = await timed(() => importer(big.apiUrl, true));
  const growth = (Math.max(r.peak, process.memoryUsage().rss) - before) / MB;
  await stopChild(big.child);
  console.log(`RSS pass: ${r.rows} rows, ${(r.bytes / MB).toFixed(0)} MB in ${r.seconds.toFixed(1)} s; RSS growth ${growth.toFixed(1)} MB (target < 100 MB) ${growth < 100 ? 'OK' : 'OVER TARGET'}`);
}
process.exit(0);
