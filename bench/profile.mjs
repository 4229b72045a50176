// Where does the server's time go?
//
//   node bench/profile.mjs <variant> [payload] [--duration S] [--connections N] [--top N] [--interval µs]
//   node bench/profile.mjs --report <file.cpuprofile> [--top N]
//   node bench/profile.mjs <variant> [payload] --heap   allocations instead of time: bytes
//                           allocated per request by function over the timed run, sampled every
//                           512 bytes, with what the GC collected since (what churns)
//   node bench/profile.mjs <variant> [payload] --heap --survivors   only the bytes that outlived a
//                           minor GC (scavenge): what the scavenger copies and promotes, which is
//                           what makes GC time grow, more than the bytes allocated
//   node bench/profile.mjs --report <file.heapprofile> [--top N]
//
// Runs one server variant under `node --cpu-prof` (profile in .bench/prof/),
// loads it like bench/run.mjs does (pinned cores, distinct signed bodies), stops
// it cleanly so the profile is written, then prints the functions with the most
// self time and a breakdown by package.

import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PAYLOAD_SIZES } from './payloads.mjs';
import { variants } from './variants.mjs';
import { meta as variantMeta } from './variants.mjs';
import {
  OUT_DIR,
  ROOT,
  checkPinning,
  ensureBuilt,
  installCleanup,
  pinSelf,
  spawnNode,
  stopChild,
  waitMessage,
} from './lib.mjs';

function parseArgs(argv) {
  const opts = { positional: [], duration: 8, warmup: 1, connections: 50, top: 25, interval: 500, report: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--duration') opts.duration = Number(val());
    else if (a === '--warmup') opts.warmup = Number(val());
    else if (a === '--connections') opts.connections = Number(val());
    else if (a === '--top') opts.top = Number(val());
    else if (a === '--interval') opts.interval = Number(val());
    else if (a === '--report') opts.report = val();
    else if (a === '--heap') opts.heap = true;
    else if (a === '--survivors') opts.survivors = opts.heap = true;
    else if (a === '-h' || a === '--help') opts.help = true;
    else opts.positional.push(a);
  }
  return opts;
}

// ---------------------------------------------------------------------------
// .cpuprofile analysis.

function shortUrl(url) {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(ROOT + '/')) u = u.slice(ROOT.length + 1);
  return u;
}

/** Package / area a frame belongs to, for the breakdown. */
function areaOf(frame) {
  const url = shortUrl(frame.url);
  if (!url) {
    const n = frame.functionName;
    if (n === '(garbage collector)' || n === '(idle)' || n === '(program)' || n === '(root)') return n;
    return '(native)';
  }
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('dist/')) return 'scrapehook (dist)';
  if (url.startsWith('bench/')) return 'bench';
  return url;
}

/**
 * Self time per function from a .cpuprofile: each sample's node gets the time
 * until the next sample (the last one: until endTime).
 */
export function analyzeProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const { samples = [], timeDeltas = [] } = profile;
  let t = profile.startTime;
  const times = samples.map((_, i) => (t += timeDeltas[i] || 0));
  for (let i = 0; i < samples.length; i++) {
    const dt = (i + 1 < samples.length ? times[i + 1] : profile.endTime) - times[i];
    if (dt > 0) selfUs.set(samples[i], (selfUs.get(samples[i]) || 0) + dt);
  }
  // Fall back to hitCount × mean interval when the profile has no samples.
  if (samples.length === 0) {
    const hits = profile.nodes.reduce((a, n) => a + (n.hitCount || 0), 0);
    const per = hits ? (profile.endTime - profile.startTime) / hits : 0;
    for (const n of profile.nodes) if (n.hitCount) selfUs.set(n.id, n.hitCount * per);
  }
  const fns = new Map();
  const areas = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    total += us;
    if (f.functionName === '(idle)') idle += us;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${name}\u0000${where}`;
    const e = fns.get(key) || { name, where, us: 0 };
    e.us += us;
    fns.set(key, e);
    const area = areaOf(f);
    areas.set(area, (areas.get(area) || 0) + us);
  }
  const sort = (m) => [...m].sort((a, b) => b.us - a.us);
  return {
    totalUs: total,
    idleUs: idle,
    busyUs: total - idle,
    functions: sort(fns.values()),
    areas: [...areas].map(([area, us]) => ({ area, us })).sort((a, b) => b.us - a.us),
  };
}

/** Bytes allocated per function (self) from a .heapprofile (sampling heap profiler). */
export function analyzeHeapProfile(profile) {
  const fns = new Map();
  const areas = new Map();
  let total = 0;
  const walk = (node) => {
    const f = node.callFrame;
    const self = node.selfSize || 0;
    if (self > 0) {
      total += self;
      const name = f.functionName || '(anonymous)';
      const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${name}\u0000${where}`;
      const e = fns.get(key) || { name, where, bytes: 0 };
      e.bytes += self;
      fns.set(key, e);
      const area = areaOf(f);
      areas.set(area, (areas.get(area) || 0) + self);
    }
    for (const child of node.children || []) walk(child);
  };
  walk(profile.head);
  return {
    totalBytes: total,
    functions: [...fns.values()].sort((a, b) => b.bytes - a.bytes),
    areas: [...areas].map(([area, bytes]) => ({ area, bytes })).sort((a, b) => b.bytes - a.bytes),
  };
}

export function printHeapProfile(a, { top = 25, requests } = {}) {
  const per = (b) => (requests ? `${(b / requests).toFixed(0).padStart(7)} B/req` : '');
  const pct = (b) => ((b / a.totalBytes) * 100).toFixed(1).padStart(6);
  console.log(`\nallocations sampled: ${(a.totalBytes / 2 ** 20).toFixed(1)} MiB` + (requests ? `; ${requests} requests → ${(a.totalBytes / requests).toFixed(0)} B per request (sampled estimate)` : ''));
  console.log(`\ntop ${top} functions by bytes allocated (self):`);
  for (const f of a.functions.slice(0, top)) console.log(`${pct(f.bytes)}%  ${per(f.bytes)}  ${f.name}${f.where ? '  ' + f.where : ''}`);
  console.log('\nby package / area:');
  for (const e of a.areas.slice(0, 12)) console.log(`${pct(e.bytes)}%  ${per(e.bytes)}  ${e.area}`);
}

export function printProfile(a, { top = 25, requests } = {}) {
  const ms = (us) => (us / 1000).toFixed(1);
  const pct = (us, of) => (of > 0 ? ((us / of) * 100).toFixed(1) : '-');
  console.log(
    `\nprofile: ${ms(a.totalUs)} ms sampled, ${ms(a.busyUs)} ms busy (${pct(a.busyUs, a.totalUs)}%), ${ms(a.idleUs)} ms idle` +
      (requests ? `; ${requests} requests → ${(a.busyUs / requests).toFixed(1)} µs busy per request` : ''),
  );
  console.log(`\ntop ${top} functions by self time (% of busy time${requests ? ', µs per request' : ''}):`);
  const rows = a.functions.filter((f) => f.name !== '(idle)').slice(0, top);
  for (const f of rows) {
    console.log(
      `${pct(f.us, a.busyUs).padStart(6)}%  ${ms(f.us).padStart(9)} ms` +
        (requests ? `  ${(f.us / requests).toFixed(2).padStart(7)} µs` : '') +
        `  ${f.name}${f.where ? '  ' + f.where : ''}`,
    );
  }
  console.log('\nby package / area (self time):');
  for (const e of a.areas.filter((e) => e.area !== '(idle)').slice(0, 15)) {
    console.log(`${pct(e.us, a.busyUs).padStart(6)}%  ${ms(e.us).padStart(9)} ms  ${e.area}`);
  }
}

// ---------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const usage =
    'usage: node bench/profile.mjs <variant> [payload] [--duration S] [--warmup S] [--connections N] [--top N] [--interval µs]\n' +
    '       node bench/profile.mjs --report <file.cpuprofile> [--top N]\n' +
    `variants: ${Object.keys(variants).join(', ')}\npayloads: ${Object.keys(PAYLOAD_SIZES).join(', ')}`;
  if (opts.help) return console.log(usage);
  if (opts.report) {
    const data = JSON.parse(readFileSync(opts.report, 'utf8'));
    if (opts.report.endsWith('.heapprofile')) printHeapProfile(analyzeHeapProfile(data), { top: opts.top });
    else printProfile(analyzeProfile(data), { top: opts.top });
    return;
  }
  const [variant, payload = '2kb'] = opts.positional;
  if (!variants[variant] || !PAYLOAD_SIZES[payload]) {
    console.error(usage);
    process.exitCode = 2;
    return;
  }

  installCleanup();
  const pin = checkPinning();
  if (pin.ok) pinSelf(1);
  console.log(pin.ok ? `pinning: ${pin.reason}` : `pinning: NOT PINNED (${pin.reason})`);
  if (variantMeta[variant]?.needsBuild) {
    const b = ensureBuilt(process.env.BENCH_BUILD || 'auto');
    console.log(`build: ${b.message}`);
    if (!b.ok) {
      process.exitCode = 1;
      return;
    }
  }

  const profDir = join(OUT_DIR, 'prof');
  mkdirSync(profDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const ext = opts.heap ? 'heapprofile' : 'cpuprofile';
  const profName = `${variant}-${payload}-${stamp}.${ext}`;

  // Enough distinct bodies for a deduplicating receiver over warm-up + run.
  const rate = payload === '2kb' ? 40_000 : 6_000;
  const count = Math.min(Math.ceil(rate * (opts.warmup + opts.duration) * 1.1), Math.floor((3072 * 2 ** 20) / PAYLOAD_SIZES[payload]));
  const loadgen = spawnNode('loadgen.mjs', [payload, String(count)], { core: 1, label: 'loadgen' });
  const lgReady = await waitMessage(loadgen, 'ready', 300_000);
  console.log(`load generator: ${lgReady.pool} distinct signed bodies of ${lgReady.bytesPerBody} B`);

  const server = spawnNode('server.mjs', [variant, payload], {
    core: 0,
    label: `server ${variant}`,
    // Heap: the server samples its own allocations over the timed window (bench/server.mjs).
    nodeArgs: opts.heap ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${profName}`, `--cpu-prof-interval=${opts.interval}`],
    env: opts.heap ? { BENCH_HEAP_PROFILE: join(profDir, profName), ...(opts.survivors && { BENCH_HEAP_SURVIVORS: '1' }) } : undefined,
  });
  const ready = await waitMessage(server, 'ready', 30_000);
  let id = 0;
  const load = async (duration, reset) => {
    loadgen.send({ type: 'run', id: ++id, port: ready.port, duration, connections: opts.connections, reset });
    const msg = await waitMessage(loadgen, 'result', (duration + 45) * 1000, id);
    if (msg.error) throw new Error(msg.error);
    return msg;
  };
  if (opts.warmup > 0) await load(opts.warmup, true);
  server.send({ type: 'mark-start' });
  await waitMessage(server, 'marked', 10_000);
  const lg = await load(opts.duration, opts.warmup <= 0);
  server.send({ type: 'mark-stop' });
  const win = await waitMessage(server, 'window', 10_000);
  server.send({ type: 'exit' });
  const fin = await waitMessage(server, 'final', 30_000);
  await stopChild(server, 30_000); // the profile is written while the process exits
  await stopChild(loadgen, 5000);

  const r = lg.result;
  console.log(
    `\n${variant} ${payload}: ${(r.ok / r.durationS).toFixed(0)} req/s under the profiler, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ` +
      `${(win.cpuUs / win.requests).toFixed(0)} µs server CPU per request, non-2xx ${r.non2xx}, errors ${r.errors + r.timeouts}, ` +
      `max RSS ${(fin.maxRSSKb / 1024).toFixed(0)} MB`,
  );
  if (r.non2xx || r.errors || r.timeouts) console.log('!!! the server answered errors: the profile shows the error path');

  let file = join(profDir, profName);
  try {
    statSync(file);
  } catch {
    // Older Node versions ignore --cpu-prof-name: take the newest profile.
    const newest = readdirSync(profDir)
      .filter((f) => f.endsWith(`.${ext}`))
      .map((f) => ({ f, t: statSync(join(profDir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t)[0];
    if (!newest) throw new Error(`no .${ext} written in ${profDir}`);
    file = join(profDir, newest.f);
  }
  console.log(`profile file: ${relative(ROOT, file)} (covers warm-up and run: ${fin.requests} requests in all)`);
  const data = JSON.parse(readFileSync(file, 'utf8'));
  if (opts.heap) printHeapProfile(analyzeHeapProfile(data), { top: opts.top, requests: win.requests });
  else printProfile(analyzeProfile(data), { top: opts.top, requests: fin.requests });
}

main().catch((err) => {
  console.error(err?.stack || err);
  process.exitCode = 1;
});
