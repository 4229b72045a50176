import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bullmqQueue, createReceiver, thordata, type Logger } from '../../src/index.ts';
import { sendDelivery, thordataDelivery } from '../../src/testing/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { BODY, SHOUTED, shoutingProvider } from '../helpers/shouting-provider.ts';
import { SIGNATURE_HEADER, sign } from '../helpers/test-provider.ts';

// On BullMQ, a delivery whose provider lets its body be kept is a job without a payload plus the
// body as received in a Redis string of its own; a worker in another process validates it again.
// What postgresQueue() does alike is in distributed-raw-body.test.ts; here, what only Redis has: a
// body gone or unreadable under its job, and a provider whose body holds a secret.

describe.runIf(redisTestsEnabled('bullmq-raw-body'))('bullmqQueue() keeping bodies as received', () => {
  let redis: RedisServer;
  let client: Redis;
  let queueCount = 0;
  let name: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  interface OpenOptions {
    provider?: ReturnType<typeof shoutingProvider>;
    /** `false` accepts only, like a web tier. */
    workers?: boolean;
    logger?: Logger;
    /** Attempts per delivery (fixed when a delivery is accepted), each retry an hour later. */
    attempts?: number;
  }

  function receiver(options: OpenOptions = {}) {
    name = `raw-${process.pid}-${++queueCount}`;
    return open(options);
  }

  /** A receiver on the current queue. */
  function open({ provider = shoutingProvider(), workers = true, logger, attempts = 1 }: OpenOptions = {}) {
    const hooks = createReceiver({
      provider,
      retry: { attempts, minDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
      ...(logger && { logger }),
      queue: bullmqQueue({ connection: redis.url, name, workers, countsIntervalMs: 50 }),
    });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    return hooks;
  }

  async function post(hooks: ReturnType<typeof open>, body = BODY) {
    return sendRaw(hooks.nodeHandler(), { headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign(body) }, body });
  }

  const bodyKey = (jobId: string) => `bull:${name}:${jobId}:body`;

  it('skips a job whose body is gone: it succeeded before, and stalled before BullMQ recorded it', async () => {
    const web = receiver({ workers: false });
    expect((await post(web)).status).toBe(202);
    await client.del(bodyKey('wh-raw-1'));
    const infos: unknown[] = [];
    const logger = { debug() {}, info: (obj: unknown) => void infos.push(obj), warn() {}, error() {} };
    const worker = open({ logger });
    let ran = false;
    worker.on('page.scraped', () => void (ran = true));
    await worker.onIdle();
    expect(ran).toBe(false);
    expect(infos).toContainEqual({ id: 'wh-raw-1' });
    expect(await worker.deadLetters()).toEqual([]);
  });

  it('retries a job whose body Redis could not read, instead of burying it', async () => {
    const web = receiver({ workers: false, attempts: 2 });
    expect((await post(web)).status).toBe(202);
    // A key of the wrong type: reading it fails in Redis, like a connection that fails would.
    await client.del(bodyKey('wh-raw-1'));
    await client.hset(bodyKey('wh-raw-1'), 'not', 'a string');
    const hooks = open({ attempts: 2 });
    const payloads: unknown[] = [];
    hooks.on('page.scraped', (event) => void payloads.push(event.payload));
    const queue = new Queue(name, { connection: { url: redis.url } });
    cleanups.push(() => queue.close());
    const job = await queue.getJob('wh-raw-1');
    // The failed attempt waits for its retry (an hour), rather than becoming a dead letter.
    let state = await queue.getJobState('wh-raw-1');
    while (state !== 'delayed' && state !== 'failed') {
      await new Promise((resolve) => setTimeout(resolve, 10));
      state = await queue.getJobState('wh-raw-1');
    }
    expect(state).toBe('delayed');
    expect(await hooks.deadLetters()).toEqual([]);
    await client.del(bodyKey('wh-raw-1'));
    await client.set(bodyKey('wh-raw-1'), BODY);
    await job!.promote();
    await hooks.onIdle();
    expect(payloads).toEqual([SHOUTED]);
    expect(await hooks.deadLetters()).toEqual([]);
  });

  it('keeps the validated payload in the job instead for a provider whose body holds a secret (Thordata’s apiKey)', async () => {
    name = `raw-${process.pid}-${++queueCount}`;
    const token = 'thordata-token-for-tests';
    const hooks = createReceiver({ provider: thordata({ token }), queue: bullmqQueue({ connection: redis.url, name, workers: false }) });
    cleanups.push(() => hooks.close({ timeoutMs: 5000 }));
    const delivery = thordataDelivery({ token, type: 'ACTOR.RUN.SUCCEEDED', tokenIn: 'query' });
    expect(delivery.body.toString()).toContain('apiKey');
    expect((await sendDelivery(hooks.nodeHandler(), delivery)).status).toBe(202);
    expect(await client.keys(`bull:${name}:*:body`)).toEqual([]);
    const [jobKey] = (await client.keys(`bull:${name}:*`)).filter((key) => (/^bull:[^:]+:[^:]+$/.test(key) && !/:(meta|id|wait|events|de|marker|stalled-check)$/.test(key)));
    const data = (await client.hget(jobKey!, 'data'))!;
    expect(data).not.toContain('apiKey');
    expect(JSON.parse(data)).toMatchObject({ payload: { eventType: 'ACTOR.RUN.SUCCEEDED' } });
  });
});
