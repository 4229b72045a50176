import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverTestsEnabled, startOnFreePort, waitUntilReady, type Spawned, type ThrowawayServer } from './throwaway-server.ts';

/**
 * A throwaway PostgreSQL server for one test file: `initdb` in a temp dir, `postgres` on a free
 * port of 127.0.0.1 with trust authentication and fsync off, removed when stopped. Tests never
 * touch a server that happens to run on the machine (5432).
 *
 * Members of the role `password_required` (if a test creates it) must authenticate with their
 * password; everyone else is trusted.
 *
 * Run as root (CI), the server runs as the `postgres` OS user (PostgreSQL refuses root), in a temp
 * dir it owns.
 *
 * @example
 * ```ts
 * describe.runIf(postgresTestsEnabled('postgres-queue'))('postgresQueue()', () => {
 *   let pg: PostgresServer;
 *   beforeAll(async () => (pg = await startPostgres()));
 *   afterAll(() => pg?.stop());
 * });
 * ```
 */
export type PostgresServer = ThrowawayServer;

const NEED = { what: 'the PostgreSQL server binaries (initdb, postgres)', install: 'CI installs them with apt-get install postgresql' };

/** Where `initdb` and `postgres` are: `$POSTGRES_BIN`, else the newest /usr/lib/postgresql/<version>/bin, else PATH. */
function binDir(): string | undefined {
  if (process.env.POSTGRES_BIN) return process.env.POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0]!, 'bin') : undefined;
}

function binary(name: 'initdb' | 'postgres' | 'pg_isready'): string {
  const dir = binDir();
  return dir === undefined ? name : join(dir, name);
}

/** The OS user the server runs as: `postgres` when we are root (PostgreSQL will not run as root). */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) throw new Error('Running as root, the PostgreSQL tests need an OS user `postgres` to run the server as');
  return { uid, gid };
}

/** Whether `initdb` and `postgres` can be run here. */
export function postgresServerAvailable(): boolean {
  const probe = spawnSync(binary('postgres'), ['--version'], { stdio: 'ignore' });
  const init = spawnSync(binary('initdb'), ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0 && init.error === undefined && init.status === 0;
}

/**
 * Whether the PostgreSQL tests run: when the server binaries exist. In CI (env `CI=true`) missing
 * binaries fail the suite rather than skip it; outside CI they skip the tests with a message.
 */
export function postgresTestsEnabled(suite: string): boolean {
  return serverTestsEnabled(suite, postgresServerAvailable(), NEED);
}

/** Creates a cluster in a temp dir and starts it on a free port; resolves once it accepts connections. */
export async function startPostgres(): Promise<PostgresServer> {
  if (!postgresServerAvailable()) {
    throw new Error(`These tests need ${NEED.what}: ${NEED.install}`);
  }
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'scrapehook-postgres-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const init = spawnSync(binary('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions'], {
    encoding: 'utf8',
    ...(user ?? {}),
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.error?.message ?? init.stderr}`);
  }
  // Trust for everyone, except members of the role `password_required` (which a test creates to
  // see real password authentication): they must give their password (SCRAM).
  const hba = join(data, 'pg_hba.conf');
  writeFileSync(hba, `host all +password_required 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
  // halt(): SIGQUIT, PostgreSQL's immediate shutdown, as a crash: connections drop, no checkpoint;
  // the next start recovers from the WAL. (A SIGKILL of the postmaster would leave its children.)
  // stop(): SIGINT, its fast shutdown (disconnects clients, no checkpoint wait for them).
  return startOnFreePort({
    spawn: (port) => spawnServer(data, dir, port, user),
    url: (port) => `postgres://postgres@127.0.0.1:${port}/postgres`,
    stopSignal: 'SIGINT',
    haltSignal: 'SIGQUIT',
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

function spawnServer(data: string, dir: string, port: number, user: { uid: number; gid: number } | undefined): Spawned {
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '100',
    shared_buffers: '32MB',
    log_min_messages: 'fatal',
  };
  const args = ['-D', data, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
  const child = spawn(binary('postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], ...(user ?? {}) });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const ready = () => spawnSync(binary('pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-t', '1'], { stdio: 'ignore' }).status === 0;
  const started = waitUntilReady(child, ready, { timeoutMs: 15_000, intervalMs: 50, what: 'not accepting connections' }).catch((error: unknown) => {
    throw new Error(`postgres did not start on port ${port}: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  });
  return { process: child, started };
}

/**
 * Holds `table` (schema-qualified, e.g. `scrapehook.job`) in another session's ACCESS EXCLUSIVE lock,
 * as a stalled server or a long migration would: every transaction that touches it waits. Resolves
 * once the lock is held, with the release (COMMIT).
 */
export async function lockPostgresTable(url: string, table: string): Promise<() => Promise<void>> {
  const admin = new pg.Client(url);
  admin.on('error', () => {});
  await admin.connect();
  for (let attempt = 1; ; attempt++) {
    await admin.query('BEGIN');
    try {
      await admin.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      break;
    } catch (error) {
      await admin.query('ROLLBACK');
      // Locking a partitioned table takes the parent's lock, then each partition's: a statement of
      // the queue's that holds a partition and waits for the parent makes a cycle, and PostgreSQL
      // may pick this transaction to end (40P01). Lock again, as a migration would be retried.
      if ((error as { code?: string }).code !== '40P01' || attempt === 5) throw error;
    }
  }
  return async () => {
    await admin.query('COMMIT');
    await admin.end();
  };
}
