import { main } from '../../src/cli/main.ts';

/** What a CLI run gave: its exit code and everything it wrote. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `scrapehook` CLI in this process, as `main()` is run by src/cli.ts, with `env` as its
 * whole environment (none of the test process's) and `stdin` when given; answers its exit code and
 * output.
 *
 * @example
 * ```ts
 * expect(await runCli(['stats', '--sqlite', path, '--json'])).toMatchObject({ code: 0 });
 * ```
 */
export async function runCli(args: string[], env: Record<string, string> = {}, stdin?: Buffer): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    ...(stdin ? { stdin: async () => stdin } : {}),
  });
  return { code, stdout, stderr };
}
