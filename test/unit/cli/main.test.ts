import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/cli/main.ts';
import { sqliteStore } from '../../../src/store/sqlite-store.ts';
import { runCli as cli } from '../../helpers/cli.ts';

let dir: string;
/** A file that does not exist: a command that parsed reaches the backend and fails there, with exit 1. */
let missing: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-cli-unit-'));
  missing = join(dir, 'missing.db');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scrapehook: help and version', () => {
  it.each([['--help'], ['-h'], ['stats', '--help']])('%s prints the usage to stdout and exits 0', async (...args) => {
    const { code, stdout, stderr } = await cli(args);
    expect(code).toBe(EXIT.ok);
    expect(stdout).toMatch(/^Usage: scrapehook <command> \[options\]/);
    for (const command of ['send', 'dead-letters', 'replay', 'stats', 'imports']) expect(stdout).toContain(`\n  ${command}`);
    expect(stdout).toContain('--receiver <name>');
    expect(stdout).toContain('Exit codes:');
    expect(stderr).toBe('');
  });

  it.each([['--version'], ['-v']])('%s prints the package version', async (flag) => {
    const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await cli([flag])).toEqual({ code: EXIT.ok, stdout: `${version}\n`, stderr: '' });
  });
});

describe('scrapehook: usage errors exit 2 with a clear message and a pointer to --help', () => {
  it.each<[string, string[], RegExp]>([
    ['no command', [], /missing command \(dead-letters, replay, stats, imports or send\)/],
    ['an unknown command', ['frobnicate', '--sqlite', 'x'], /unknown command "frobnicate"/],
    ['an unknown option', ['stats', '--sqlite', 'x', '--bogus'], /Unknown option '--bogus'/],
    ['an option without its value', ['stats', '--sqlite'], /--sqlite/],
    ['a boolean option given a value', ['stats', '--sqlite', 'x', '--json=yes'], /--json/],
    ['send after another argument', ['--json', 'send', 'firecrawl'], /put send first/],
    ['arguments to a command that takes none', ['stats', 'extra', '--sqlite', 'x'], /stats takes no arguments, got "extra"/],
    ['--all outside replay', ['dead-letters', '--all', '--sqlite', 'x'], /--all is an option of replay/],
    ['replay without ids or --all', ['replay', '--sqlite', 'x'], /replay needs the ids of dead letters, or --all/],
    ['replay with both ids and --all', ['replay', 'a', '--all', '--sqlite', 'x'], /replay takes ids or --all, not both/],
    ['no backend', ['stats'], /which backend\?.*--sqlite <path>/],
    ['two backends', ['stats', '--sqlite', 'x', '--redis', 'redis://h'], /not both/],
    ['--queue with --sqlite', ['stats', '--sqlite', 'x', '--queue', 'q'], /--queue goes with --redis or --postgres/],
    ['--prefix with --sqlite', ['stats', '--sqlite', 'x', '--prefix', 'p'], /--prefix goes with --redis/],
    ['--prefix with --postgres', ['stats', '--postgres', 'postgres://h/db', '--prefix', 'p'], /--prefix goes with --redis/],
    ['a URL that is not Redis', ['stats', '--redis', 'http://h:6379'], /expected a redis:\/\/ or rediss:\/\/ URL, got http:\/\/h:6379/],
    ['an empty --receiver', ['stats', '--sqlite', 'x', '--receiver', ''], /--receiver needs a name/],
  ])('%s', async (_label, args, message) => {
    const { code, stdout, stderr } = await cli(args);
    expect(code).toBe(EXIT.usage);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^scrapehook: /);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('Run `scrapehook --help` for usage.');
  });

  it('reads the Redis URL from SCRAPEHOOK_REDIS_URL, and never shows its password in the error', async () => {
    const { code, stderr } = await cli(['stats'], { SCRAPEHOOK_REDIS_URL: 'http://user:hunter2@cache:6379' });
    expect(code).toBe(EXIT.usage);
    expect(stderr).toMatch(/expected a redis:\/\/ or rediss:\/\/ URL, got http:\/\/user:\*\*\*@cache:6379/);
    expect(stderr).not.toContain('hunter2');
  });

  it('hides the password of a --redis URL given on the command line too', async () => {
    const { stderr } = await cli(['stats', '--redis', 'https://:hunter2@cache']);
    expect(stderr).not.toContain('hunter2');
  });
});

describe('scrapehook: a command that parses reaches its backend', () => {
  it.each<[string, string[]]>([
    ['stats', ['stats']],
    ['dead-letters --json', ['dead-letters', '--json']],
    ['imports with --receiver', ['imports', '--receiver', 'apify']],
    ['replay of ids', ['replay', 'a', 'b']],
    ['replay --all', ['replay', '--all']],
  ])('%s: exit 1 naming the missing file, not a usage error', async (_label, args) => {
    const { code, stderr } = await cli([...args, '--sqlite', missing]);
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain(missing);
    expect(stderr).not.toContain('--help');
  });

  it('prefers --sqlite over SCRAPEHOOK_REDIS_URL in the environment', async () => {
    const { code, stderr } = await cli(['stats', '--sqlite', missing], { SCRAPEHOOK_REDIS_URL: 'redis://cache:6379' });
    expect(code).toBe(EXIT.failed);
    expect(stderr).toContain(missing);
  });

  it('--receiver limits a command to that receiver; replay takes ids or --all', async () => {
    const path = join(dir, 'receivers.db');
    const store = sqliteStore({ path });
    for (const name of ['a', 'b']) {
      const view = store.forReceiver(name);
      for (const id of ['same', `only-${name}`]) {
        await view.accept({ id, type: 'crawl.page', provider: name, payload: { id }, receivedAt: new Date(0) }, 60_000);
        view.update(id, { state: 'dead', attempts: 1, error: { type: 'handler.failed', message: 'down' } });
      }
      await view.deadLetters(); // flushes
    }
    store.close();
    const listed = async (args: string[]) => {
      const { code, stdout } = await cli(['dead-letters', '--json', '--sqlite', path, ...args]);
      expect(code).toBe(EXIT.ok);
      return (JSON.parse(stdout) as { receiver: string; id: string }[]).map((l) => `${l.receiver}/${l.id}`).sort();
    };
    expect(await listed([])).toEqual(['a/only-a', 'a/same', 'b/only-b', 'b/same']);
    expect(await listed(['--receiver', 'b'])).toEqual(['b/only-b', 'b/same']);

    // Ids: only those asked for; an id that is not a dead letter (of this receiver) fails with exit 1.
    const some = await cli(['replay', 'same', 'only-b', '--json', '--receiver', 'a', '--sqlite', path]);
    expect(some.code).toBe(EXIT.failed);
    expect(JSON.parse(some.stdout)).toEqual({ replayed: ['same'], missing: ['only-b'] });
    expect(some.stderr).toBe('scrapehook: no dead letter with id "only-b"\n');
    expect(await listed([])).toEqual(['a/only-a', 'b/only-b', 'b/same']);

    // --all: every dead letter of the receiver, and no other's.
    const all = await cli(['replay', '--all', '--json', '--receiver', 'b', '--sqlite', path]);
    expect(all.code).toBe(EXIT.ok);
    expect(JSON.parse(all.stdout)).toEqual({ replayed: expect.arrayContaining(['same', 'only-b']), missing: [] });
    expect(await listed([])).toEqual(['a/only-a']);
  });
});
