// A throwaway redis-server for the scrapehook-bullmq variant: a free port (listen
// on 0, close, reuse), a temp dir, no persistence; never the machine's own Redis.
//
// Where it runs: BENCH_REDIS_CORE (default 1) pins it with taskset to the load
// generator's core, as Redis runs on its own machine in a deployment and the
// receiver's core should measure the receiver; BENCH_REDIS_CORE=0 puts it on the
// server's core (the whole stack on one core); `none` leaves it unpinned. Its CPU
// time is reported in the variant's stats (redisCpuMs), since the harness counts
// it as "other processes".

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeCpuMs } from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok) => (socket.destroy(), resolve(ok));
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/** Starts redis-server; resolves { url, pid, cpuMs(), stop() } once it answers PING. */
export async function startRedis() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'scrapehook-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'];
  const binary = process.env.REDIS_SERVER || 'redis-server';
  const core = process.env.BENCH_REDIS_CORE ?? '1';
  const pinned = core !== 'none' && spawnSync('taskset', ['-c', core, 'true']).status === 0;
  const child = pinned ? spawn('taskset', ['-c', core, binary, ...args], { stdio: 'ignore' }) : spawn(binary, args, { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (exited || Date.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on port ${port} (is it installed?)`);
    }
    await sleep(20);
  }
  let cpuAtStop;
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    /**
     * User + system CPU time of redis-server so far, in ms (Linux /proc; undefined elsewhere). After
     * stop, what it had used then: its pid is gone, or another process's (which read negative).
     */
    cpuMs: () => cpuAtStop ?? treeCpuMs(child.pid),
    async stop() {
      cpuAtStop ??= treeCpuMs(child.pid);
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
