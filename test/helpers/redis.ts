import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, serverTestsEnabled, startOnFreePort, waitUntilReady, type Spawned, type ThrowawayServer } from './throwaway-server.ts';

/**
 * A throwaway `redis-server` for one test file: its own free port, its own temp dir, nothing
 * persisted. Tests never touch a Redis that happens to run on the machine (6379).
 *
 * @example
 * ```ts
 * describe.runIf(redisTestsEnabled('bullmq'))('bullmqQueue()', () => {
 *   let redis: RedisServer;
 *   beforeAll(async () => (redis = await startRedis()));
 *   afterAll(() => redis?.stop());
 * });
 * ```
 */
export type RedisServer = ThrowawayServer;

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';
const NEED = { what: 'Redis', install: `\`${BINARY}\` was not found on PATH (CI installs it with apt-get install redis-server)` };

/** Whether `redis-server` can be run here. */
export function redisServerAvailable(): boolean {
  const probe = spawnSync(BINARY, ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

/**
 * Whether the Redis tests run: when `redis-server` exists. In CI (env `CI=true`) a missing binary
 * must fail the suite rather than skip it; outside CI it skips the tests with a message saying so
 * (see {@link serverTestsEnabled}).
 */
export function redisTestsEnabled(suite: string): boolean {
  return serverTestsEnabled(suite, redisServerAvailable(), NEED);
}

export { freePort };

/**
 * Starts `redis-server` on a free port with a temp dir and no persistence; resolves once it answers
 * PING. `halt()` is a SIGKILL; `restart()` comes back empty (nothing is persisted).
 */
export async function startRedis(): Promise<RedisServer> {
  if (!redisServerAvailable()) throw new Error(`These tests need ${NEED.what}: ${NEED.install}`);
  const dir = mkdtempSync(join(tmpdir(), 'scrapehook-redis-'));
  return startOnFreePort({
    spawn: (port) => spawnServer(port, dir),
    url: (port) => `redis://127.0.0.1:${port}`,
    stopSignal: 'SIGTERM',
    haltSignal: 'SIGKILL',
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
}

function spawnServer(port: number, dir: string): Spawned {
  const child = spawn(
    BINARY,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const started = waitUntilReady(child, () => ping(port), { timeoutMs: 10_000, intervalMs: 20, what: 'no PONG' }).catch((error: unknown) => {
    throw new Error(`redis-server did not start on port ${port}: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  });
  return { process: child, started };
}

/** One PING over a raw socket: true on `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * Makes the Redis at `url` hold every write (CLIENT PAUSE ... WRITE) while connections stay up, as in
 * a stall or a network partition: the way a Redis that "does not answer" looks to a client. Resolves
 * once paused, with the release.
 */
export async function pauseRedisWrites(url: string): Promise<() => Promise<void>> {
  const admin = new Redis(url);
  await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
  return async () => {
    await admin.call('CLIENT', 'UNPAUSE');
    admin.disconnect();
  };
}
