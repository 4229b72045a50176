import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';

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
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its temp dir. */
  stop(): Promise<void>;
  /** Stops the server as an outage would (SIGKILL), keeping its port: see {@link restart}. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port (empty: nothing is persisted); resolves once it answers PING. */
  restart(): Promise<void>;
}

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

/** Whether `redis-server` can be run here. */
export function redisServerAvailable(): boolean {
  const probe = spawnSync(BINARY, ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

/**
 * Whether the Redis tests run: when `redis-server` exists. In CI (env `CI=true`) a missing binary
 * must fail the suite rather than skip it: a failing test is registered in the calling file instead.
 * Outside CI a missing binary skips the tests with a message saying so.
 */
export function redisTestsEnabled(suite: string): boolean {
  if (redisServerAvailable()) return true;
  if (process.env.CI === 'true') {
    // A failing test rather than a failing hook: every reporter counts it as a failure.
    it(`${suite}: needs redis-server, which CI must install`, () => {
      throw new Error(`These tests need Redis: \`${BINARY}\` was not found on PATH (CI installs it with apt-get install redis-server)`);
    });
    return false;
  }
  console.warn(`[${suite}] skipped: these tests need Redis, and \`${BINARY}\` was not found on PATH (install redis-server; in CI it is required)`);
  return false;
}

/** A port nobody listens on right now: listen on port 0, read it, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `redis-server` on a free port with a temp dir and no persistence; resolves once it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  if (!redisServerAvailable()) {
    throw new Error(`These tests need Redis: \`${BINARY}\` was not found on PATH (CI installs it with apt-get install redis-server)`);
  }
  let lastError: unknown;
  // Another process may take the port between freePort() and the server's bind: try again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'scrapehook-redis-'));
    let child = spawnServer(port, dir);
    try {
      await child.started;
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        stop: () => stop(child.process, dir),
        async halt() {
          if (child.process.exitCode !== null || child.process.signalCode !== null) return;
          const exited = new Promise((resolve) => child.process.once('exit', resolve));
          child.process.kill('SIGKILL');
          await exited;
        },
        async restart() {
          child = spawnServer(port, dir);
          await child.started;
        },
      };
    } catch (error) {
      lastError = error;
      await stop(child.process, dir);
    }
  }
  throw lastError;
}

function spawnServer(port: number, dir: string): { process: ChildProcess; started: Promise<void> } {
  const child = spawn(
    BINARY,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const started = waitForPing(port, child, 10_000).catch((error: unknown) => {
    throw new Error(`redis-server did not start on port ${port}: ${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  });
  return { process: child, started };
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`it exited with code ${child.exitCode}`);
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no PONG within ${timeoutMs} ms`);
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

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}
