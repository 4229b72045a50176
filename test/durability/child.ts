import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { signed } from '../helpers/test-provider.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/receiver.ts', import.meta.url));

/** A receiver running in a child process (test/durability/fixtures/receiver.ts). */
export interface ChildReceiver {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Resolves with the exit code (or the signal) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** SIGKILL: no chance to flush or close anything. */
  kill(): Promise<void>;
  /** Graceful: receiver.close() then process.exit(0); resolves with the exit code. */
  close(): Promise<number | NodeJS.Signals>;
  /** Resolves with the first line of the child's output (since it started) that matches `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

const children = new Set<ChildProcess>();

/** Kills every child still running (afterAll / afterEach safety net). */
export async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }),
  );
  children.clear();
}

/** Starts the fixture (by default fixtures/receiver.ts) with `env` and resolves once it listens. */
export async function startReceiver(env: Record<string, string>, timeoutMs = 20_000, fixture = FIXTURE): Promise<ChildReceiver> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`the receiver did not start within ${timeoutMs} ms\n${stderr}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /ready (\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the receiver exited (${code}) before it was ready\n${stderr}`));
    });
  });
  return {
    child,
    pid: child.pid!,
    port,
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async close() {
      child.send('close');
      return exited;
    },
    line(pattern, lineTimeoutMs = 20_000) {
      const find = () => {
        for (const text of output.split('\n')) {
          const match = pattern.exec(text);
          if (match) return match;
        }
        return undefined;
      };
      return new Promise<RegExpExecArray>((resolve, reject) => {
        const found = find();
        if (found) return resolve(found);
        const onData = () => {
          const match = find();
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no output line matched ${pattern} within ${lineTimeoutMs} ms\n${output}\n${stderr}`));
        }, lineTimeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
        };
        // After the listener above has appended the chunk.
        child.stdout!.on('data', onData);
      });
    },
  };
}

/** Sends one signed delivery; answers the status. */
export async function send(port: number, event: Record<string, unknown>): Promise<number> {
  const { body, headers } = signed(event);
  const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body, headers });
  await res.arrayBuffer();
  return res.status;
}

/** The handler log: per id, how many times it started and finished, and in which processes. */
export interface HandlerLog {
  started: Map<string, number>;
  done: Map<string, number>;
  /** Deliveries reported to onError (dead letters). */
  dead: Map<string, number>;
  /** Process ids that finished at least one delivery. */
  workers: Set<number>;
  /** Ids in the order they finished. */
  order: string[];
}

export function readLog(path: string): HandlerLog {
  const log: HandlerLog = { started: new Map(), done: new Map(), dead: new Map(), workers: new Set(), order: [] };
  if (!existsSync(path)) return log;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [what, id, pid] = line.split(' ');
    if (!id) continue;
    const map = what === 'start' ? log.started : what === 'dead' ? log.dead : log.done;
    map.set(id, (map.get(id) ?? 0) + 1);
    if (what === 'done') {
      log.workers.add(Number(pid));
      log.order.push(id);
    }
  }
  return log;
}

/** Polls `condition` every 20 ms until it holds; fails with `message` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, message: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
