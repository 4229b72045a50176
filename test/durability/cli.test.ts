import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sqliteStore } from '../../src/index.ts';
import { runCli as cli } from '../helpers/cli.ts';
import { twoReceiversWithDeadLetters } from '../helpers/dead-letters.ts';
import { pageEvent } from '../helpers/test-provider.ts';
import { killChildren, readLog, send, startReceiver, waitFor } from './child.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'scrapehook-cli-'));
});
afterEach(() => killChildren());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scrapehook (CLI)', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: scrapehook <command>/);
    expect(stdout).toContain('--sqlite <path>');
  });

  it.each([
    [[], /missing command/],
    [['frobnicate', '--sqlite', 'x'], /unknown command/],
    [['stats'], /which backend/],
    [['stats', '--sqlite', 'x', '--redis', 'redis://h'], /not both/],
    [['replay', '--sqlite', 'x'], /needs the ids/],
    [['replay', 'a', '--all', '--sqlite', 'x'], /not both/],
    [['stats', '--sqlite', 'x', '--bogus'], /Unknown option/],
    [['stats', '--redis', 'http://h'], /redis:\/\//],
  ])('exits 2 on a usage error: %j', async (args, message) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toContain('scrapehook --help');
  });

  it('exits 1 for a missing file or a file that is not a scrapehook database, creating nothing', async () => {
    const missing = join(dir, 'missing.db');
    expect(await cli(['stats', '--sqlite', missing])).toMatchObject({ code: 1, stderr: expect.stringContaining(missing) });
    const other = join(dir, 'other.db');
    writeFileSync(other, '');
    expect(await cli(['stats', '--sqlite', other])).toMatchObject({ code: 1, stderr: expect.stringMatching(/not a scrapehook database/) });
  });

  it('runs as a program with the documented exit codes', () => {
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(run(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(run(['stats']).status).toBe(2);
    expect(run(['stats', '--sqlite', join(dir, 'nope.db')]).status).toBe(1);
  });

  describe('with --sqlite', () => {
    it('shows which receiver each dead letter belongs to, and lists, counts and replays one receiver’s with --receiver', async () => {
      const db = join(dir, 'receivers.db');
      const store = sqliteStore({ path: db });
      const { close } = await twoReceiversWithDeadLetters(() => ({ store }));
      await close();

      const all = await cli(['dead-letters', '--sqlite', db]);
      expect(all.stdout).toMatch(/^test\s+same\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^test\s+only-test\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^shout\s+same\s+page\.scraped\s/m);
      expect(all.stdout).toContain('3 dead letters.');
      const shout = JSON.parse((await cli(['dead-letters', '--sqlite', db, '--receiver', 'shout', '--json'])).stdout) as { receiver: string; id: string }[];
      expect(shout.map((l) => [l.receiver, l.id])).toEqual([['shout', 'same']]);
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--receiver', 'test', '--json'])).stdout)).toMatchObject({ dead: 2 });
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--json'])).stdout)).toMatchObject({ dead: 3 });

      // The id both receivers have: --receiver re-queues only that receiver's.
      expect(await cli(['replay', 'same', '--sqlite', db, '--receiver', 'shout', '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["same"],"missing":[]}\n' });
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--receiver', 'shout', '--json'])).stdout)).toMatchObject({ dead: 0, queued: 1, requeued: 1 });
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--receiver', 'test', '--json'])).stdout)).toMatchObject({ dead: 2, queued: 0 });
      expect(await cli(['replay', 'only-test', '--sqlite', db, '--receiver', 'shout'])).toMatchObject({ code: 1, stderr: expect.stringContaining('no dead letter with id "only-test"') });
    });

    it('lists dead letters, counts states, and replays into the running receiver', async () => {
      const db = join(dir, 'replay.db');
      const log = join(dir, 'replay.log');
      const fixed = join(dir, 'fixed');
      const receiver = await startReceiver({ DB_PATH: db, LOG_PATH: log, ATTEMPTS: '1', POLL_MS: '20', FAIL_UNTIL_FILE: fixed });
      for (const webhookId of ['fail-1', 'fail-2', 'ok-1']) expect(await send(receiver.port, pageEvent({ webhookId }))).toBe(202);
      await waitFor(() => readLog(log).started.size === 3 && readLog(log).done.has('ok-1'), 'the three deliveries ran');
      // The dead state is written in the receiver's next group commit: poll the CLI itself.
      let stats: Record<string, number> = {};
      await waitFor(async () => {
        stats = JSON.parse((await cli(['stats', '--sqlite', db, '--json'])).stdout) as Record<string, number>;
        return stats.dead === 2 && stats.succeeded === 1;
      }, 'two dead letters and one success are on disk');
      expect(stats).toMatchObject({ queued: 0, running: 0, succeeded: 1, dead: 2, requeued: 0 });

      const listed = await cli(['dead-letters', '--sqlite', db]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^RECEIVER\s+ID\s+TYPE\s+ATTEMPTS\s+RECEIVED\s+LAST ERROR\n/);
      expect(listed.stdout).toMatch(/test\s+fail-1\s+crawl\.page\s+1\s+\S+Z\s+handler\.failed: A crawl\.page handler failed: fail-1 is set to fail/);
      expect(listed.stdout).toContain('2 dead letters.');
      const json = JSON.parse((await cli(['dead-letters', '--sqlite', db, '--json'])).stdout) as { id: string; event: { payload: unknown } }[];
      expect(json.map((l) => l.id)).toEqual(['fail-1', 'fail-2']);
      expect(json[0]!.event.payload).toMatchObject({ webhookId: 'fail-1', type: 'crawl.page' });

      writeFileSync(fixed, '');
      const one = await cli(['replay', 'fail-1', 'nope', '--sqlite', db]);
      expect(one.code).toBe(1); // nope is not a dead letter; fail-1 was still re-queued
      expect(one.stdout).toContain('Re-queued 1 dead letter');
      expect(one.stderr).toContain('no dead letter with id "nope"');
      await waitFor(() => readLog(log).done.has('fail-1'), 'the running receiver ran the replayed fail-1');
      expect(await cli(['replay', '--all', '--sqlite', db, '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["fail-2"],"missing":[]}\n' });
      await waitFor(() => readLog(log).done.has('fail-2'), 'the running receiver ran fail-2');

      expect(await receiver.close()).toBe(0);
      expect(JSON.parse((await cli(['stats', '--sqlite', db, '--json'])).stdout)).toMatchObject({ succeeded: 3, dead: 0, requeued: 0 });
      expect((await cli(['dead-letters', '--sqlite', db])).stdout).toBe('No dead letters.\n');
    });
  });
});
