// A throwaway PostgreSQL server for the scrapehook-postgres variant: initdb in a temp dir, a free
// port on 127.0.0.1, trust authentication; never the machine's own server (5432). Run as root, the
// server runs as the `postgres` OS user (PostgreSQL refuses root).
//
// Durability as in a deployment by default: fsync and synchronous_commit on, so every 202 waits
// for the WAL flush of its transaction (PostgreSQL groups the flushes of concurrent commits).
// BENCH_PG_SYNCHRONOUS_COMMIT=off measures the commit without waiting for the flush.
//
// Where it runs: BENCH_PG_CORE (default 1) pins it with taskset to the load generator's core, as
// the database runs on its own machine in a deployment (see redis.mjs); `none` leaves it unpinned.
// Its CPU time (every backend process) is reported in the variant's stats (postgresCpuMs).
//
// BENCH_PG_STATEMENTS=1 loads pg_stat_statements (with planning times) and, at stop, reads the
// statements by total execution time into `statements` (the variant's final stats carry them as
// pgStatements): where the server's time goes, per statement, over the server's whole life.
// The extension costs some CPU itself: leave it off for the CPU and throughput numbers.

import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeCpuMs } from './lib.mjs';
import { freePort } from './redis.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function binDir() {
  if (process.env.POSTGRES_BIN) return process.env.POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

function serverUser() {
  if (process.getuid?.() !== 0) return {};
  const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Starts PostgreSQL; resolves { url, pid, cpuMs(), stop() } once it accepts connections. */
export async function startPostgres() {
  const bin = binDir();
  const binary = (name) => (bin === undefined ? name : join(bin, name));
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'scrapehook-bench-postgres-'));
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const init = spawnSync(binary('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions'], { encoding: 'utf8', ...user });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (is postgresql installed?): ${init.error?.message ?? init.stderr}`);
  }
  const port = await freePort();
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    synchronous_commit: process.env.BENCH_PG_SYNCHRONOUS_COMMIT || 'on',
    max_connections: '100',
    shared_buffers: '128MB',
  };
  const statements = process.env.BENCH_PG_STATEMENTS === '1';
  if (statements) Object.assign(settings, { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on' });
  const args = ['-D', data, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
  const core = process.env.BENCH_PG_CORE ?? '1';
  const pinned = core !== 'none' && spawnSync('taskset', ['-c', core, 'true']).status === 0;
  const child = pinned ? spawn('taskset', ['-c', core, binary('postgres'), ...args], { stdio: 'ignore', ...user }) : spawn(binary('postgres'), args, { stdio: 'ignore', ...user });
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  const deadline = Date.now() + 15_000;
  const ready = () => spawnSync(binary('pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-t', '1'], { stdio: 'ignore' }).status === 0;
  while (!ready()) {
    if (exited || Date.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres did not start on port ${port}`);
    }
    await sleep(50);
  }
  const psql = (sql) => {
    const out = spawnSync(binary('psql'), ['-X', '-q', '-At', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', sql], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`psql failed: ${out.stderr}`);
    return out.stdout.trim();
  };
  if (statements) psql('CREATE EXTENSION pg_stat_statements');
  let cpuAtStop;
  const running = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    pid: child.pid,
    /** Statements by total execution time, read at stop (BENCH_PG_STATEMENTS=1). */
    statements: undefined,
    // After stop, the CPU time it had used (its processes are gone).
    cpuMs: () => cpuAtStop ?? treeCpuMs(child.pid),
    async stop() {
      if (statements && !exited) {
        try {
          running.statements = JSON.parse(
            // Statements differing only in their number of VALUES rows are one line: their first 60 characters.
            psql(`SELECT json_agg(t ORDER BY exec_ms + plan_ms DESC) FROM (
              SELECT sum(calls) AS calls, sum(rows) AS rows, round(sum(total_exec_time)::numeric, 1) AS exec_ms, round(sum(total_plan_time)::numeric, 1) AS plan_ms,
                     round((1000 * sum(total_exec_time) / sum(calls))::numeric, 1) AS exec_us_per_call, min(left(regexp_replace(query, '\\s+', ' ', 'g'), 160)) AS query
              FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' GROUP BY left(regexp_replace(query, '\\s+', ' ', 'g'), 60)) t`),
          );
        } catch (error) {
          running.statements = { error: String(error) };
        }
      }
      cpuAtStop = treeCpuMs(child.pid);
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT'); // fast shutdown
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return running;
}
