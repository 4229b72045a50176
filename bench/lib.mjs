// Shared plumbing for bench/run.mjs and bench/profile.mjs: child processes pinned
// to cores, IPC with time limits, cleanup on exit, /proc/stat readings, building
// the library.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, '..');
export const OUT_DIR = join(ROOT, '.bench');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Children: every child is registered and killed when we exit, however we exit.

const children = new Set();
let cleanupInstalled = false;

export function killAllChildren(signal = 'SIGKILL') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(signal);
      } catch {}
    }
  }
}

export function installCleanup() {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', () => killAllChildren('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\n${sig}: stopping ${children.size} child process(es)`);
      killAllChildren('SIGKILL');
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error(err);
    killAllChildren('SIGKILL');
    process.exit(1);
  });
}

// ---------------------------------------------------------------------------
// CPU pinning.

let pinning;
/** { ok, reason } — whether `taskset -c 0` and `taskset -c 1` both work here. */
export function checkPinning() {
  if (pinning) return pinning;
  if (cpus().length < 2) {
    pinning = { ok: false, reason: `only ${cpus().length} CPU(s) visible` };
    return pinning;
  }
  for (const core of [0, 1]) {
    const r = spawnSync('taskset', ['-c', String(core), process.execPath, '-e', '0'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) {
      pinning = {
        ok: false,
        reason: r.error?.code === 'ENOENT' ? 'taskset not found' : `taskset -c ${core} failed (${r.error?.message || 'exit ' + r.status})`,
      };
      return pinning;
    }
  }
  pinning = { ok: true, reason: 'server on core 0, load generator (and this orchestrator) on core 1' };
  return pinning;
}

/** Move this process to `core` (keeps the server's core free of orchestration work). */
export function pinSelf(core) {
  if (!checkPinning().ok) return false;
  const r = spawnSync('taskset', ['-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * Spawn `node [nodeArgs] script [args]` with an IPC channel, pinned to `core`
 * when pinning works. stdout/stderr are echoed with a prefix and the tail of
 * stderr is kept for error messages (child.stderrTail()).
 */
export function spawnNode(script, args, { core, nodeArgs = [], label, env, execPath = process.execPath } = {}) {
  const nodeCmd = [...nodeArgs, join(BENCH_DIR, script), ...args];
  const pinned = core !== undefined && checkPinning().ok;
  const [cmd, argv] = pinned
    ? ['taskset', ['-c', String(core), execPath, ...nodeCmd]]
    : [execPath, nodeCmd];
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => {});
  let tail = '';
  const prefix = `  [${label || script}] `;
  const echo = (stream, out) =>
    stream.on('data', (d) => {
      const s = d.toString();
      if (out === process.stderr) tail = (tail + s).slice(-4000);
      out.write(s.replace(/^(?=.)/gm, prefix));
    });
  echo(child.stdout, process.stdout);
  echo(child.stderr, process.stderr);
  child.stderrTail = () => tail.trim();
  return child;
}

/**
 * Wait for the next IPC message of `type` (and `id`, if given). Rejects on an
 * 'error' message, on child exit, or after `timeoutMs`.
 */
export function waitMessage(child, type, timeoutMs, id) {
  return new Promise((resolve, reject) => {
    const done = (fn, v) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn(v);
    };
    const onMessage = (msg) => {
      if (msg?.type === 'error') done(reject, new Error(msg.message));
      else if (msg?.type === type && (id === undefined || msg.id === id)) done(resolve, msg);
    };
    const onExit = (code, signal) => {
      const tail = child.stderrTail?.();
      done(reject, new Error(`child exited (${signal || 'code ' + code}) while waiting for "${type}"${tail ? ':\n' + tail : ''}`));
    };
    const timer = setTimeout(() => done(reject, new Error(`timed out after ${timeoutMs} ms waiting for "${type}"`)), timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
  });
}

/** Ask a child to exit via IPC; SIGKILL it if it has not gone after `graceMs`. */
export async function stopChild(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    if (child.connected) child.send({ type: 'exit' });
  } catch {}
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------
// Machine load from /proc/stat.

export const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout) > 0 ? Number(r.stdout) : 100;
})();

/**
 * CPU time (user + system, ms) of a process, of its children that exited (cutime + cstime: a
 * PostgreSQL backend per closed connection), and of its children still running, from Linux /proc.
 * `undefined` when the process cannot be read (gone, or no /proc); a child gone meanwhile counts 0.
 */
export function treeCpuMs(pid) {
  let fields;
  let children;
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  } catch {
    return undefined;
  }
  let total = ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK;
  for (const child of children) total += treeCpuMs(Number(child)) ?? 0;
  return total;
}

/** Per-CPU {busy, total} jiffies, plus 'all'. Null when /proc/stat is unreadable. */
export function readCpuTimes() {
  let text;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    // user nice system idle iowait irq softirq steal guest guest_nice
    const f = m[2].trim().split(/\s+/).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
    out[m[1] === '' ? 'all' : m[1]] = { busy: total - idle, total, steal: f[7] || 0 };
  }
  return out;
}

/** Busy fraction per CPU between two readings: { all, '0', '1', ... } in 0..1. */
export function busyBetween(a, b) {
  const out = {};
  for (const k of Object.keys(b)) {
    if (!a[k]) continue;
    const dt = b[k].total - a[k].total;
    out[k] = dt > 0 ? (b[k].busy - a[k].busy) / dt : 0;
  }
  return out;
}

/** Busy CPU-seconds across all CPUs between two readings. */
export function busySecondsBetween(a, b) {
  return (b.all.busy - a.all.busy) / CLK_TCK;
}

/**
 * Wait until the machine is idle: busy < `threshold` over a `sampleMs` window,
 * for up to `maxWaitMs`. Returns { idle, busy, waitedMs }.
 */
export async function waitIdle({ threshold = 0.1, maxWaitMs = 5000, sampleMs = 250 } = {}) {
  const t0 = performance.now();
  let busy = 0;
  for (;;) {
    const a = readCpuTimes();
    await sleep(sampleMs);
    const b = readCpuTimes();
    if (!a || !b) return { idle: true, busy: null, waitedMs: 0, note: '/proc/stat unreadable' };
    busy = busyBetween(a, b).all;
    const waitedMs = performance.now() - t0;
    if (busy < threshold) return { idle: true, busy, waitedMs };
    if (waitedMs >= maxWaitMs) return { idle: false, busy, waitedMs };
  }
}

// ---------------------------------------------------------------------------
// Building the library (dist/) when a variant needs it.

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Build dist/ with `tsc -p tsconfig.build.json` when it is missing or older than
 * src/ (mode 'auto'), always ('always') or never ('never').
 * Returns { ok, built, message }.
 */
export function ensureBuilt(mode = 'auto') {
  const srcIndex = join(ROOT, 'src', 'index.ts');
  const config = join(ROOT, 'tsconfig.build.json');
  const distIndex = join(ROOT, 'dist', 'index.js');
  if (mode === 'never') {
    return existsSync(distIndex)
      ? { ok: true, built: false, message: 'BENCH_BUILD=never: using existing dist/' }
      : { ok: false, built: false, message: 'BENCH_BUILD=never and dist/index.js is missing' };
  }
  if (!existsSync(srcIndex)) return { ok: false, built: false, message: 'src/index.ts does not exist yet (library core not written)' };
  if (!existsSync(config)) return { ok: false, built: false, message: 'tsconfig.build.json does not exist' };
  if (mode === 'auto' && existsSync(distIndex)) {
    const srcNewest = Math.max(newestMtime(join(ROOT, 'src')), statSync(config).mtimeMs);
    const distNewest = newestMtime(join(ROOT, 'dist'));
    if (distNewest >= srcNewest) return { ok: true, built: false, message: 'dist/ is up to date' };
  }
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  const t0 = performance.now();
  const r = spawnSync(existsSync(tsc) ? tsc : 'npx', existsSync(tsc) ? ['-p', config] : ['tsc', '-p', config], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    const output = `${r.stdout || ''}${r.stderr || ''}${r.error ? String(r.error) : ''}`.trim();
    return { ok: false, built: false, message: `tsc -p tsconfig.build.json failed after ${secs}s:\n${output.split('\n').slice(0, 30).join('\n')}` };
  }
  if (!existsSync(distIndex)) return { ok: false, built: true, message: 'tsc succeeded but dist/index.js is missing' };
  return { ok: true, built: true, message: `built dist/ with tsc in ${secs}s` };
}

// ---------------------------------------------------------------------------
// Small statistics and formatting helpers.

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function envNumber(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

export function envList(name) {
  const v = process.env[name];
  if (!v) return undefined;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
