// The `scrapehook` CLI on the distributed backends (--redis, --postgres): listing, counting and
// replaying dead letters into running receivers, finding every receiver's queue, and failing fast
// without printing a password. The CLI's own usage and SQLite are in cli.test.ts; what only
// --postgres does (its usage, imports) in postgres-cli.test.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { expect, it } from 'vitest';
import { createReceiver } from '../../src/index.ts';
import { findReceiverQueues } from '../../src/queue/bullmq/admin.ts';
import { runCli as cli } from '../helpers/cli.ts';
import { twoReceiversWithDeadLetters } from '../helpers/dead-letters.ts';
import { pageEvent, testProvider } from '../helpers/test-provider.ts';
import { freePort } from '../helpers/throwaway-server.ts';
import { send, waitFor } from './child.ts';
import { forEachDistributed, type Distributed } from './distributed.ts';

interface CliBackend {
  /** The option naming the server, and the variable that can stand for it. */
  readonly flag: string;
  readonly envVar: string;
  /** A URL with the password `s3cret` for a server on `port`. */
  secretUrl(port: number): string;
  /** What `stats --json` says beside queued, running and dead, for `dead` dead letters of one receiver whose instance runs. */
  statsBeside(dead: number, running: boolean): Record<string, number>;
  /** The receivers' default queues (`scrapehook-<receiver>`) that exist on the server. */
  receiverQueues(url: string): Promise<string[]>;
}

const CLI: Record<Distributed['name'], CliBackend> = {
  bullmq: {
    flag: '--redis',
    envVar: 'SCRAPEHOOK_REDIS_URL',
    secretUrl: (port) => `redis://user:s3cret@127.0.0.1:${port}`,
    // Redis knows the workers of a queue; it keeps no dedupe ids apart from the jobs.
    statsBeside: (_dead, running) => ({ workers: running ? 1 : 0 }),
    receiverQueues: (url) => findReceiverQueues({ url }, 'bull'),
  },
  postgres: {
    flag: '--postgres',
    envVar: 'SCRAPEHOOK_POSTGRES_URL',
    secretUrl: (port) => `postgres://user:s3cret@127.0.0.1:${port}/app`,
    // PostgreSQL keeps every dedupe id in a table, and counts them; it does not know the workers.
    statsBeside: (dead) => ({ dedupeIds: dead }),
    async receiverQueues(url) {
      const client = new pg.Client(url);
      await client.connect();
      try {
        const { rows } = await client.query<{ name: string }>(`SELECT name FROM scrapehook.queue WHERE name LIKE 'scrapehook-%' ORDER BY name`);
        return rows.map((row) => row.name);
      } finally {
        await client.end();
      }
    },
  },
};

forEachDistributed('distributed-cli', 'seen by the scrapehook CLI', (backend, h) => {
  const opts = CLI[backend.name];

  it('lists dead letters, counts, and replays into the running receivers (URL from the environment)', async () => {
    const hooks = createReceiver({ provider: testProvider(), retry: { attempts: 1 }, queue: backend.queue(h.server().url, { name: 'cli' }) });
    let fixed = false;
    const done: string[] = [];
    hooks.onAny((event) => {
      if (!fixed) throw new Error('down');
      done.push(event.id);
    });
    try {
      const env = { [opts.envVar]: h.server().url };
      const web = http.createServer(hooks.nodeHandler());
      await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
      const { port } = web.address() as AddressInfo;
      for (const webhookId of ['r-1', 'r-2']) expect(await send(port, pageEvent({ webhookId }))).toBe(202);
      await hooks.onIdle();
      web.close();

      const listed = await cli(['dead-letters', '--queue', 'cli'], env);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/^test\s+r-1\s+crawl\.page\s+1\s+\S+Z\s+handler\.failed: A crawl\.page handler failed: down/m);
      expect(listed.stdout).toContain('2 dead letters.');
      const json = JSON.parse((await cli(['dead-letters', '--queue', 'cli', '--json'], env)).stdout) as { id: string; event: { payload: unknown } }[];
      expect(json.map((l) => l.id)).toEqual(['r-1', 'r-2']);
      expect(json[0]!.event.payload).toMatchObject({ webhookId: 'r-1', type: 'crawl.page' });
      expect(JSON.parse((await cli(['stats', '--queue', 'cli', '--json'], env)).stdout)).toEqual({ queued: 0, running: 0, dead: 2, ...opts.statsBeside(2, true) });

      fixed = true;
      const one = await cli(['replay', 'r-2', 'nope', '--queue', 'cli'], env);
      expect(one).toMatchObject({ code: 1, stdout: expect.stringContaining('Re-queued 1 dead letter'), stderr: expect.stringContaining('no dead letter with id "nope"') });
      await waitFor(() => done.includes('r-2'), 'a worker ran r-2');
      expect(await cli(['replay', '--all', opts.flag, h.server().url, '--queue', 'cli', '--json'])).toMatchObject({ code: 0, stdout: '{"replayed":["r-1"],"missing":[]}\n' });
      await waitFor(() => done.includes('r-1'), 'a worker ran r-1');
      await hooks.onIdle();
      expect((await cli(['dead-letters', '--queue', 'cli'], env)).stdout).toBe('No dead letters.\n');
    } finally {
      await hooks.close();
    }
  });

  it('finds every receiver’s queue, shows the receiver of each dead letter, and filters by --receiver', async () => {
    const { close } = await twoReceiversWithDeadLetters(() => ({ queue: backend.queue(h.server().url) }));
    try {
      const env = { [opts.envVar]: h.server().url };
      const all = await cli(['dead-letters'], env);
      expect(all.code).toBe(0);
      expect(all.stdout).toMatch(/^test\s+same\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^test\s+only-test\s+crawl\.page\s/m);
      expect(all.stdout).toMatch(/^shout\s+same\s+page\.scraped\s/m);
      expect(all.stdout).toContain('3 dead letters.');
      const shoutOnly = JSON.parse((await cli(['dead-letters', '--receiver', 'shout', '--json'], env)).stdout) as { receiver: string; id: string; event: { payload: unknown } }[];
      expect(shoutOnly.map((l) => [l.receiver, l.id])).toEqual([['shout', 'same']]);
      // Kept as received: shown decoded (the CLI has no provider to validate it with).
      expect(shoutOnly[0]!.event.payload).toEqual({ type: 'page.scraped', webhookId: 'same', markdown: 'x' });
      expect(JSON.parse((await cli(['stats', '--receiver', 'test', '--json'], env)).stdout)).toMatchObject({ dead: 2 });
      expect(await cli(['replay', 'only-test', '--receiver', 'shout'], env)).toMatchObject({ code: 1 });
      // Looking creates no queue: a typo or the CLI's own probe is never found as a receiver.
      expect(JSON.parse((await cli(['stats', '--receiver', 'typo', '--json'], env)).stdout)).toEqual({ queued: 0, running: 0, dead: 0, ...opts.statsBeside(0, false) });
      expect(await opts.receiverQueues(h.server().url)).toEqual(['scrapehook-shout', 'scrapehook-test']);
    } finally {
      await close();
    }
  });

  it(`fails fast with exit 1 when ${backend.server} is unreachable, never printing the password`, async () => {
    const port = await freePort();
    const result = await cli(['stats', opts.flag, opts.secretUrl(port)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(opts.secretUrl(port).replace('s3cret', '***'));
    expect(result.stderr + result.stdout).not.toContain('s3cret');
  });
});
