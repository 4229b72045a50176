import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export interface DemoProcess {
  /** e.g. `http://localhost:41234` */
  readonly url: string;
  /** The variables the demo generated and printed as `export NAME='value'` lines. */
  readonly exported: Record<string, string>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves once stderr holds a line matching `pattern`. */
  waitForStderr(pattern: RegExp): Promise<void>;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves once stdout holds a line matching `pattern`. */
  waitForStdout(pattern: RegExp): Promise<void>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Runs `examples/demo.ts` as `npm start` does (through tsx), on a free port. */
export async function startDemo(env: Record<string, string> = {}): Promise<DemoProcess> {
  const inherited = { ...process.env };
  for (const name of Object.keys(inherited)) if (/_WEBHOOK_(SECRET|TOKEN)$|^WEBSCRAPER_API_(TOKEN|URL)$/.test(name)) delete inherited[name];
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts'], {
    cwd: root,
    env: { ...inherited, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8').on('data', (chunk: string) => {
      output[stream] += chunk;
      for (const check of waiters) check();
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = (stream: 'stdout' | 'stderr', pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output[stream])) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      void exited.then(() => reject(new Error(`the demo exited before printing ${pattern} on ${stream}:\n${output.stderr}`)));
      check();
    });
  const waitForStderr = (pattern: RegExp) => waitFor('stderr', pattern);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForStderr(/^scrapehook demo on (http:\/\/localhost:\d+)$/m);
  } catch (error) {
    await stop();
    throw error;
  }
  const url = /^scrapehook demo on (http:\/\/localhost:\d+)$/m.exec(output.stderr)![1]!;
  const exported = Object.fromEntries([...output.stderr.matchAll(/^ {2}export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
  return {
    url,
    exported,
    stderr: () => output.stderr,
    waitForStderr,
    stdout: () => output.stdout,
    waitForStdout: (pattern) => waitFor('stdout', pattern),
    stop,
  };
}
