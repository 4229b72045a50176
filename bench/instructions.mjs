// Instructions per request, counted by valgrind's callgrind: a measure that other processes on the
// machine do not disturb (timings do), for comparing variants while the machine is busy.
//
//   node bench/instructions.mjs [variant ...] [--payload 2kb] [--requests 2000] [--warmup 2000] [--connections 4]
//
// Default variants: floor-a floor-c scrapehook-node express-drain scrapehook-express.
//
// For each variant, the server (bench/server.mjs, the same one `npm run bench` uses) runs under
// `valgrind --tool=callgrind --instr-atstart=no`: start-up and the warm-up run uninstrumented. After
// the warm-up requests, `callgrind_control -i on` starts counting, the measured requests are sent,
// `callgrind_control -i off` stops it, and the count is divided by the number of requests. Requests
// are sent from this process (not counted) over keep-alive loopback connections, each a distinct
// signed body (a deduplicating receiver takes its normal path); every answer must be 2xx.
//
// Counts include everything the server process does for those requests on any of its threads:
// node:http parsing and writing, the handler after the answer, GC, and V8 compiling in the
// background. Repeated runs of unchanged code agree within about 5% (the JIT and GC do not run
// at exactly the same points each time): compare ratios taken in one run. Needs valgrind (apt-get install valgrind) and a
// build of the library (dist/), as the other bench scripts do.

import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, OUT_DIR, ROOT, ensureBuilt, stopChild, waitMessage } from './lib.mjs';
import { HOOK_PATH, SIGNATURE_HEADER, makeBodyPool } from './payloads.mjs';
import { meta as variantMeta, variants } from './variants.mjs';

const DEFAULT_VARIANTS = ['floor-a', 'floor-c', 'scrapehook-node', 'express-drain', 'scrapehook-express'];

function parseArgs(argv) {
  const opts = { variants: [], payload: '2kb', requests: 2000, warmup: 2000, connections: 4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--payload') opts.payload = argv[++i];
    else if (a === '--requests') opts.requests = Number(argv[++i]);
    else if (a === '--warmup') opts.warmup = Number(argv[++i]);
    else if (a === '--connections') opts.connections = Number(argv[++i]);
    else if (a === '--help' || a === '-h') opts.help = true;
    else opts.variants.push(a);
  }
  if (opts.variants.length === 0) opts.variants = DEFAULT_VARIANTS;
  return opts;
}

/** Sends bodies `from` to `to - 1` of the pool over `connections` keep-alive connections; rejects on any non-2xx. */
async function send(port, pool, from, to, connections) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = from;
  // A keep-alive socket the server closed while idle (its keepAliveTimeout passes easily under
  // valgrind) fails the next request sent on it with ECONNRESET: send that request again, once,
  // on a new socket, as the Node docs advise for `request.reusedSocket`.
  const one = (i, retried = false) =>
    new Promise((resolve, reject) => {
      const body = pool.body(i);
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: HOOK_PATH,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': body.length, [SIGNATURE_HEADER]: pool.signature(i) },
        },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300 ? resolve() : reject(new Error(`answer ${res.statusCode} to request ${i}`))));
        },
      );
      req.on('error', (err) => {
        if (!retried && req.reusedSocket && err.code === 'ECONNRESET') one(i, true).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  const worker = async () => {
    while (next < to) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    agent.destroy();
  }
}

function callgrindControl(args, pid) {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0 || !/OK/.test(r.stdout)) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
}

async function measure(variant, opts, pool) {
  const dir = join(OUT_DIR, 'callgrind');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${variant}-${opts.payload}.callgrind`);
  rmSync(out, { force: true });
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, join(BENCH_DIR, 'server.mjs'), variant, opts.payload],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, BENCH_SERVER_MAX_SECONDS: '3600' } },
  );
  let tail = '';
  child.stderr.on('data', (d) => (tail = (tail + d).slice(-4000)));
  child.stderrTail = () => tail.trim();
  try {
    const ready = await waitMessage(child, 'ready', 300_000);
    await send(ready.port, pool, 0, opts.warmup, opts.connections);
    callgrindControl(['-i', 'on'], ready.pid);
    const t0 = performance.now();
    await send(ready.port, pool, opts.warmup, opts.warmup + opts.requests, opts.connections);
    const seconds = (performance.now() - t0) / 1000;
    callgrindControl(['-i', 'off'], ready.pid);
    child.send({ type: 'exit' });
    await waitMessage(child, 'final', 300_000);
    await stopChild(child, 60_000);
    const totals = /^totals:\s+(\d+)/m.exec(readFileSync(out, 'utf8'));
    if (!totals) throw new Error(`no totals in ${out}`);
    return { perRequest: Number(totals[1]) / opts.requests, seconds };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const usage = `usage: node bench/instructions.mjs [variant ...] [--payload 2kb] [--requests N] [--warmup N] [--connections N]\nvariants: ${Object.keys(variants).join(', ')}`;
  if (opts.help) return console.log(usage);
  const unknown = opts.variants.filter((v) => !variants[v]);
  if (unknown.length > 0) throw new Error(`unknown variants ${unknown.join(', ')}\n${usage}`);
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is not installed (apt-get install valgrind)');
  if (opts.variants.some((v) => variantMeta[v]?.needsBuild)) {
    const b = ensureBuilt(process.env.BENCH_BUILD || 'auto');
    console.log(`build: ${b.message}`);
    if (!b.ok) throw new Error('build failed');
  }
  const pool = makeBodyPool(opts.payload, opts.warmup + opts.requests);
  console.log(`${opts.payload}: ${opts.warmup} warm-up requests, then ${opts.requests} counted, over ${opts.connections} connections, node ${process.version}`);
  const rows = [];
  for (const variant of opts.variants) {
    const r = await measure(variant, opts, pool);
    rows.push({ variant, ...r });
    console.log(`${variant.padEnd(24)} ${(r.perRequest / 1000).toFixed(1).padStart(8)} k instructions per request   (${r.seconds.toFixed(0)} s under callgrind)`);
  }
  const by = Object.fromEntries(rows.map((r) => [r.variant, r.perRequest]));
  const ratios = [
    ['scrapehook-node', 'floor-c'],
    ['scrapehook-node', 'floor-a'],
    ['scrapehook-express', 'express-drain'],
    ['scrapehook-hono', 'hono-by-hand'],
    ['scrapehook-hono', 'hono-by-hand-queue'],
    ['scrapehook-fastify', 'fastify-by-hand'],
    ['scrapehook-fastify', 'fastify-by-hand-queue'],
  ].filter(([a, b]) => by[a] && by[b]);
  for (const [a, b] of ratios) console.log(`${a} / ${b}: ${(by[a] / by[b]).toFixed(2)}×`);
}

main().catch((err) => {
  console.error(err?.stack || err);
  process.exitCode = 1;
});
