// bullmqQueue() and postgresQueue() keeping a body as received: a delivery whose provider lets its
// body be kept is a job without a payload plus the exact request bytes beside it (a Redis string, a
// row of scrapehook_body); a worker, maybe in another process, validates it again. What only one
// backend does (a body gone or unreadable in Redis; import checkpoints in PostgreSQL) stays in
// bullmq-raw-body.test.ts and postgres-raw-body.test.ts.
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createReceiver, type Logger } from '../../src/index.ts';
import { runCli } from '../helpers/cli.ts';
import { sendRaw } from '../helpers/http.ts';
import { BODY, SHOUTED, shoutingProvider } from '../helpers/shouting-provider.ts';
import { SIGNATURE_HEADER, sign } from '../helpers/test-provider.ts';
import { forEachDistributed, type Distributed } from './distributed.ts';

/** A job as the server keeps it. */
interface KeptJob {
  data: Record<string, unknown>;
  /** The key of its body: the job id. */
  key: string;
}

/** How the rows look into a backend's server, beside its public API. */
interface RawInspector {
  /** The job of the delivery `id` in queue `name`; undefined once it is gone. */
  job(name: string, id: string): Promise<KeptJob | undefined>;
  /** The bytes kept for the job whose key is `key`; undefined when none are. */
  body(name: string, key: string): Promise<Buffer | undefined>;
  /** The CLI's option naming this backend's server. */
  readonly cliFlag: string;
  close(): Promise<void>;
}

function redisInspector(url: string): RawInspector {
  const client = new Redis(url);
  return {
    async job(name, id) {
      const data = await client.hget(`bull:${name}:${id}`, 'data');
      return data === null ? undefined : { data: JSON.parse(data) as Record<string, unknown>, key: id };
    },
    async body(name, key) {
      return (await client.getBuffer(`bull:${name}:${key}:body`)) ?? undefined;
    },
    cliFlag: '--redis',
    close: async () => void client.disconnect(),
  };
}

async function postgresInspector(url: string): Promise<RawInspector> {
  const client = new pg.Client(url);
  await client.connect();
  return {
    async job(name, id) {
      const { rows } = await client.query<{ id: string; data: Record<string, unknown> }>(`SELECT id, data FROM scrapehook.job WHERE name = $1 AND data->>'id' = $2`, [name, id]);
      return rows[0] && { data: rows[0].data, key: rows[0].id };
    },
    async body(_name, key) {
      const { rows } = await client.query<{ bytes: Buffer }>('SELECT bytes FROM scrapehook.scrapehook_body WHERE job_id = $1', [key]);
      return rows[0]?.bytes;
    },
    cliFlag: '--postgres',
    close: () => client.end(),
  };
}

const INSPECTORS: Record<Distributed['name'], (url: string) => RawInspector | Promise<RawInspector>> = { bullmq: redisInspector, postgres: postgresInspector };

forEachDistributed('distributed-raw-body', 'keeping bodies as received', (backend, h) => {
  let raw: RawInspector;
  let name: string;
  beforeAll(async () => {
    raw = await INSPECTORS[backend.name](h.server().url);
  });
  afterAll(() => raw?.close());

  interface OpenOptions {
    provider?: ReturnType<typeof shoutingProvider>;
    /** `false` accepts only, like a web tier. */
    workers?: boolean;
    logger?: Logger;
  }

  /** A receiver on a new queue. */
  function receiver(options: OpenOptions = {}) {
    name = h.queueName('raw');
    return open(options);
  }

  /** A receiver on the current queue; one attempt per delivery. */
  function open({ provider = shoutingProvider(), workers = true, logger }: OpenOptions = {}) {
    const hooks = createReceiver({
      provider,
      retry: { attempts: 1 },
      ...(logger && { logger }),
      queue: backend.queue(h.server().url, { name, workers }),
    });
    h.defer(() => hooks.close({ timeoutMs: 5000 }));
    return hooks;
  }

  async function post(hooks: ReturnType<typeof open>, body = BODY) {
    return sendRaw(hooks.nodeHandler(), { headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(body) }, body });
  }

  it('keeps the exact request bytes beside a job without payload (web tier), and deletes both once a worker elsewhere succeeded', async () => {
    const web = receiver({ workers: false });
    expect((await post(web)).status).toBe(202);
    const kept = await raw.job(name, 'wh-raw-1');
    expect(kept?.data).toMatchObject({ id: 'wh-raw-1', body: 'json', receiver: 'shout' });
    expect(kept?.data).not.toHaveProperty('payload');
    expect((await raw.body(name, kept!.key))?.equals(Buffer.from(BODY))).toBe(true);
    // Nothing runs in a web tier.
    expect(web.stats()).toMatchObject({ accepted: 1, succeeded: 0 });

    // A worker elsewhere validates the body again: its handlers get the schema's output.
    const worker = open();
    const payloads: unknown[] = [];
    worker.on('page.scraped', (event) => void payloads.push(event.payload));
    await worker.onIdle();
    expect(payloads).toEqual([SHOUTED]);
    await worker.close();
    expect(await raw.job(name, 'wh-raw-1')).toBeUndefined();
    expect(await raw.body(name, kept!.key)).toBeUndefined();
    // A duplicate after that keeps nothing.
    expect((await post(web)).status).toBe(200);
    expect(await raw.job(name, 'wh-raw-1')).toBeUndefined();
    expect(await raw.body(name, kept!.key)).toBeUndefined();
  });

  it('gives the handlers of the accepting process the payload it validated', async () => {
    const hooks = receiver();
    const payloads: unknown[] = [];
    hooks.on('page.scraped', (event) => void payloads.push(event.payload));
    expect((await post(hooks)).status).toBe(202);
    await hooks.onIdle();
    expect(payloads).toEqual([SHOUTED]);
  });

  it('keeps the body of a dead letter, shows it validated, and deletes it once a replay succeeded', async () => {
    const hooks = receiver();
    let fail = true;
    const payloads: unknown[] = [];
    hooks.on('page.scraped', (event) => {
      if (fail) throw new Error('not yet');
      payloads.push(event.payload);
    });
    expect((await post(hooks)).status).toBe(202);
    await hooks.onIdle();
    const [letter] = await hooks.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-raw-1', attempts: 1, error: { type: 'handler.failed' }, event: { payload: SHOUTED } });
    expect(hooks.stats().dead).toBe(1);
    const kept = await raw.job(name, 'wh-raw-1');
    expect((await raw.body(name, kept!.key))?.equals(Buffer.from(BODY))).toBe(true);
    fail = false;
    await hooks.replay('wh-raw-1');
    expect(payloads).toEqual([SHOUTED]);
    expect(await hooks.deadLetters()).toEqual([]);
    await hooks.onIdle();
    expect(hooks.stats().dead).toBe(0);
    expect(await raw.job(name, 'wh-raw-1')).toBeUndefined();
    expect(await raw.body(name, kept!.key)).toBeUndefined();
  });

  it('makes a body that no longer passes its schema a dead letter with the validation error, shown decoded', async () => {
    const web = receiver({ workers: false });
    expect((await post(web)).status).toBe(202);
    const worker = open({ provider: shoutingProvider(z.string().max(5)) });
    let ran = false;
    worker.on('page.scraped', () => void (ran = true));
    await worker.onIdle();
    expect(ran).toBe(false);
    const [letter] = await worker.deadLetters();
    expect(letter).toMatchObject({ id: 'wh-raw-1', error: { type: 'payload.invalid' }, attempts: 1 });
    expect(letter!.event.payload).toEqual(JSON.parse(BODY));
    await expect(worker.replay('wh-raw-1')).rejects.toMatchObject({ type: 'payload.invalid' });
    expect(await worker.deadLetters()).toHaveLength(1);

    // The CLI, which has no provider, shows the body decoded.
    const listed = await runCli(['dead-letters', raw.cliFlag, h.server().url, '--queue', name, '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ id: 'wh-raw-1', event: { payload: JSON.parse(BODY) } }]);
  });
});
