// What test/helpers/redis.ts and test/helpers/postgres.ts share: a server process of our own on a
// free port of 127.0.0.1 (never the machine's own on its standard port), started again when
// another process took the port first, halted as an outage would and restarted on the same port;
// and the rule that decides whether the tests needing it run, skip or fail (in CI).
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { it } from 'vitest';

/** A server started for one test file. */
export interface ThrowawayServer {
  readonly port: number;
  /** How a client reaches it (`redis://127.0.0.1:<port>`, `postgres://postgres@127.0.0.1:<port>/postgres`). */
  readonly url: string;
  /** Stops the server (its orderly shutdown, then SIGKILL after 5 s) and removes its temp dir. */
  stop(): Promise<void>;
  /** Stops the server as an outage would, keeping its port: see {@link restart}. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port; resolves once it answers. */
  restart(): Promise<void>;
}

/** A spawned server process and when it answers (rejects, with the reason, when it never does). */
export interface Spawned {
  readonly process: ChildProcess;
  readonly started: Promise<void>;
}

/** How to run one kind of server. */
export interface ServerKind {
  /** Spawns the server on `port`. */
  spawn(port: number): Spawned;
  url(port: number): string;
  /** The signal of an orderly shutdown (the process gets SIGKILL 5 s later). */
  readonly stopSignal: NodeJS.Signals;
  /** The signal that stops it as an outage or a crash would. */
  readonly haltSignal: NodeJS.Signals;
  /** Removes what the server kept (its temp dir), once it has stopped for good. */
  cleanup(): void;
}

/**
 * Whether the tests of `suite` run: when `available()`. In CI (env `CI=true`) a missing server
 * must fail the suite rather than skip it: a failing test is registered in the calling file
 * instead (every reporter counts a failing test; not every one a failing hook). Outside CI the
 * tests are skipped with a warning.
 */
export function serverTestsEnabled(suite: string, available: boolean, need: { what: string; install: string }): boolean {
  if (available) return true;
  if (process.env.CI === 'true') {
    it(`${suite}: needs ${need.what}, which CI must install`, () => {
      throw new Error(`These tests need ${need.what}: ${need.install}`);
    });
    return false;
  }
  console.warn(`[${suite}] skipped: these tests need ${need.what} (${need.install}; in CI it is required)`);
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

/**
 * Starts a server of `kind` on a free port; resolves once it answers. Another process may take the
 * port between {@link freePort} and the server's bind: it tries again then (three times in all).
 */
export async function startOnFreePort(kind: ServerKind): Promise<ThrowawayServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    let child = kind.spawn(port);
    try {
      await child.started;
      return {
        port,
        url: kind.url(port),
        async stop() {
          await stopProcess(child.process, kind.stopSignal);
          kind.cleanup();
        },
        async halt() {
          if (child.process.exitCode !== null || child.process.signalCode !== null) return;
          const exited = new Promise((resolve) => child.process.once('exit', resolve));
          child.process.kill(kind.haltSignal);
          await exited;
        },
        async restart() {
          child = kind.spawn(port);
          await child.started;
        },
      };
    } catch (error) {
      lastError = error;
      await stopProcess(child.process, kind.stopSignal);
    }
  }
  kind.cleanup();
  throw lastError;
}

/**
 * Resolves once `ready()` answers true (asked every `intervalMs`); rejects when the process exits
 * first or `timeoutMs` passes, saying which (`what` names the wait: "no PONG").
 */
export async function waitUntilReady(child: ChildProcess, ready: () => Promise<boolean> | boolean, options: { timeoutMs: number; intervalMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`it exited with code ${child.exitCode}`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
  throw new Error(`${options.what} within ${options.timeoutMs} ms`);
}

/** Sends `signal`, then SIGKILL after 5 s; resolves once the process has exited. */
async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
