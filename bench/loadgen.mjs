// Load generator process: `node bench/loadgen.mjs <payload> <poolCount>`.
//
// Builds `poolCount` distinct pre-signed bodies up front (distinct webhookIds, so
// a deduplicating receiver takes its normal path), then runs autocannon on
// request over IPC:
//   -> {type:'ready', pool, bytesPerBody, buildMs}
//   <- {type:'run', id, port, duration, connections, reset}
//   -> {type:'result', id, result, cpu, sent, repeated}
// `reset: true` restarts the body sequence at 0 (use it for a fresh server,
// whose dedupe memory is empty). Bodies are taken in order by all connections
// from one shared counter; once the counter passes the pool size bodies repeat,
// and `repeated` counts how many requests since the last reset were repeats.
//
// Exits when the parent goes away.

import autocannon from 'autocannon';
import { HOOK_PATH, SIGNATURE_HEADER, makeBodyPool } from './payloads.mjs';

const [payloadName, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!payloadName || !(count > 0)) {
  console.error('usage: node bench/loadgen.mjs <payload> <poolCount>');
  process.exit(2);
}
if (!process.send) {
  console.error('bench/loadgen.mjs must be started by bench/run.mjs (needs IPC)');
  process.exit(2);
}
process.on('disconnect', () => process.exit(1));

const t0 = performance.now();
const pool = makeBodyPool(payloadName, count);
const buildMs = performance.now() - t0;

let next = 0; // index of the next body since the last reset
let sent = 0; // setupRequest calls during the current run

function setupRequest(req) {
  const i = next++;
  const k = i % pool.count;
  sent++;
  req.body = pool.body(k);
  req.headers[SIGNATURE_HEADER] = pool.signature(k);
  return req;
}

function summarize(r) {
  return {
    durationS: r.duration,
    total: r.requests.total,
    ok: r['2xx'],
    non2xx: r.non2xx,
    statusCodes: r.statusCodeStats,
    errors: r.errors,
    timeouts: r.timeouts,
    resets: r.resets,
    mismatches: r.mismatches,
    rpsAvg: r.requests.average,
    latency: {
      mean: r.latency.average,
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
    },
    throughputBytesAvg: r.throughput.average,
  };
}

function run({ port, duration, connections }) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}${HOOK_PATH}`,
        connections,
        duration,
        timeout: 10,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: [{ method: 'POST', path: HOOK_PATH, setupRequest }],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    // Hard stop in case something hangs (autocannon stops itself at `duration`).
    const guard = setTimeout(() => instance.stop(), (duration + 15) * 1000);
    instance.on('done', () => clearTimeout(guard));
  });
}

process.on('message', async (msg) => {
  if (msg?.type !== 'run') return;
  try {
    if (msg.reset) next = 0;
    sent = 0;
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const result = await run(msg);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - w0;
    process.send({
      type: 'result',
      id: msg.id,
      result: summarize(result),
      cpu: { userUs: cpu.user, systemUs: cpu.system, cpuUs: cpu.user + cpu.system, wallMs },
      sent,
      sinceReset: next,
      repeated: Math.max(0, next - pool.count),
    });
  } catch (err) {
    process.send({ type: 'result', id: msg.id, error: String(err?.stack || err) });
  }
});

process.send({ type: 'ready', pool: pool.count, bytesPerBody: pool.size, buildMs });
