import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { bullmqQueue, createReceiver, sqliteStore, webScraper, type WebhookEvent } from '../../src/index.ts';
import { decodeMultipart, MULTIPART_LIMITS } from '../../src/body/multipart.ts';
import { sendRaw } from '../helpers/http.ts';
import { redisTestsEnabled, startRedis, type RedisServer } from '../helpers/redis.ts';
import { appWith, track } from '../providers/helpers.ts';

// Web Scraper Cloud's fields posted by PHP's curl with an array: multipart/form-data, fields only.

const TOKEN = 'webscraper-url-token';
const FIELDS = { scrapingjob_id: '1234', status: 'finished', sitemap_id: '12', sitemap_name: 'my-sitemap', custom_id: 'café-42' };
const PAYLOAD = { scrapingjob_id: 1234, status: 'finished', sitemap_id: 12, sitemap_name: 'my-sitemap', custom_id: 'café-42' };

/** A multipart body as a real encoder (undici's, as curl's) writes it, with its Content-Type. */
async function multipart(fields: [string, string | Blob, string?][]): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  for (const [name, value, filename] of fields) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, filename);
  }
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return { body: Buffer.from(await request.arrayBuffer()), type: request.headers.get('content-type')! };
}

function receiver(options: { store?: ReturnType<typeof sqliteStore>; queue?: ReturnType<typeof bullmqQueue> } = {}) {
  return track(createReceiver({ provider: webScraper({ token: TOKEN }), retry: { attempts: 1 }, ...options }));
}

async function post(target: Parameters<typeof sendRaw>[0], form: { body: Buffer; type: string }, path = `/hook?token=${TOKEN}`) {
  const res = await sendRaw(target, { path, headers: { 'content-type': form.type }, body: form.body });
  return { status: res.status, body: JSON.parse(res.text) as { id?: string; error?: { code: string; message: string } } };
}

describe('multipart/form-data bodies (fields only)', () => {
  it.each(['nodeHandler', 'middleware'] as const)('accepts Web Scraper Cloud’s fields as multipart through %s: 202, and the handler gets them validated', async (mount) => {
    const hooks = receiver();
    const seen: WebhookEvent[] = [];
    hooks.on('scrapingjob.finished', (event) => void seen.push(event));
    const target = mount === 'nodeHandler' ? hooks.nodeHandler() : appWith(hooks, '/hook/:token');
    const res = await post(target, await multipart(Object.entries(FIELDS)), mount === 'nodeHandler' ? `/hook?token=${TOKEN}` : `/hook/${TOKEN}`);
    expect(res).toEqual({ status: 202, body: { id: '1234:finished' } });
    await hooks.onIdle();
    expect(seen.map((e) => [e.type, e.payload])).toEqual([['scrapingjob.finished', PAYLOAD]]);
  });

  it('authenticates before decoding: a wrong token is 401 whatever the body', async () => {
    const res = await post(receiver().nodeHandler(), await multipart(Object.entries(FIELDS)), '/hook?token=wrong');
    expect(res.status).toBe(401);
  });

  it('refuses a file part with 415 multipart.file.unsupported', async () => {
    const form = await multipart([...Object.entries(FIELDS), ['export', new Blob(['id,url\n1,https://example.com\n'], { type: 'text/csv' }), 'export.csv']]);
    const res = await post(receiver().nodeHandler(), form);
    expect(res.status).toBe(415);
    expect(res.body.error).toEqual({ code: 'multipart.file.unsupported', message: 'A multipart body may hold fields only, not files' });
  });

  it('refuses a repeated field with 400, as for a urlencoded form', async () => {
    const res = await post(receiver().nodeHandler(), await multipart([...Object.entries(FIELDS), ['status', 'failed']]));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'entity.parse.failed', message: 'The form body repeats a field' });
  });

  it('refuses more fields, or a longer field, than its bounds with 413', async () => {
    const many = Array.from({ length: MULTIPART_LIMITS.fields + 1 }, (_, i): [string, string] => [`f${i}`, 'x']);
    const tooMany = await post(receiver().nodeHandler(), await multipart([...Object.entries(FIELDS), ...many]));
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.error!.code).toBe('entity.too.large');
    const long = await post(receiver().nodeHandler(), await multipart([...Object.entries(FIELDS), ['note', 'x'.repeat(MULTIPART_LIMITS.fieldSize + 1)]]));
    expect(long.status).toBe(413);
    expect(long.body.error!.message).toBe(`A multipart field exceeds ${MULTIPART_LIMITS.fieldSize} bytes`);
  });

  it('refuses a multipart body without a boundary, or cut short, with 400', async () => {
    const form = await multipart(Object.entries(FIELDS));
    const noBoundary = await post(receiver().nodeHandler(), { body: form.body, type: 'multipart/form-data' });
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.body.error!.code).toBe('entity.parse.failed');
    const truncated = await post(receiver().nodeHandler(), { body: form.body.subarray(0, form.body.length - 20), type: form.type });
    expect(truncated.status).toBe(400);
    expect(truncated.body.error).toMatchObject({ code: 'entity.parse.failed', message: 'The body is not a valid multipart/form-data body' });
  });

  it('decodes fields into an object without a prototype, so __proto__ is an ordinary field', async () => {
    const form = await multipart([['__proto__', 'x'], ['a', 'b']]);
    const fields = await decodeMultipart(form.body, form.type as `multipart/form-data; boundary=${string}`);
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect({ ...fields }).toEqual({ ['__proto__']: 'x', a: 'b' });
  });

  describe('kept by sqliteStore as received', () => {
    let dir: string | undefined;
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('revives after a restart with its boundary: the handler gets the fields, and the CLI shows them', async () => {
      dir = mkdtempSync(join(tmpdir(), 'scrapehook-multipart-'));
      const path = join(dir, 'hooks.db');
      const first = receiver({ store: sqliteStore({ path }) });
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      first.on('scrapingjob.finished', (_event, ctx) => {
        started();
        return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      });
      expect((await post(first.nodeHandler(), await multipart(Object.entries(FIELDS)))).status).toBe(202);
      await running;
      await first.close({ timeoutMs: 0 });

      const second = receiver({ store: sqliteStore({ path }) });
      const seen: unknown[] = [];
      second.on('scrapingjob.finished', (event) => void seen.push(event.payload));
      await second.onIdle();
      expect(seen).toEqual([PAYLOAD]);
      await second.close();

      // A delivery kept as multipart and dead-lettered shows its fields in the CLI, which has no provider.
      const third = receiver({ store: sqliteStore({ path }) });
      third.on('scrapingjob.failed', () => {
        throw new Error('import failed');
      });
      expect((await post(third.nodeHandler(), await multipart(Object.entries({ ...FIELDS, status: 'failed' })))).status).toBe(202);
      await third.onIdle();
      expect((await third.deadLetters()).map((l) => l.event.payload)).toEqual([{ ...PAYLOAD, status: 'failed' }]);
      await third.close();
      let stdout = '';
      expect(await main(['dead-letters', '--sqlite', path, '--json'], { stdout: (t) => (stdout += t), stderr: () => {}, env: {} })).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject([{ id: '1234:failed', event: { payload: { ...FIELDS, status: 'failed' } } }]);
    });
  });

  describe.runIf(redisTestsEnabled('multipart'))('kept by bullmqQueue as received', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('is decoded again, with its boundary, by a worker that did not receive it', async () => {
      const name = `multipart-${process.pid}`;
      const web = receiver({ queue: bullmqQueue({ connection: redis.url, name, workers: false }) });
      expect((await post(web.nodeHandler(), await multipart(Object.entries(FIELDS)))).status).toBe(202);
      const worker = receiver({ queue: bullmqQueue({ connection: redis.url, name }) });
      const seen: unknown[] = [];
      worker.on('scrapingjob.finished', (event) => void seen.push(event.payload));
      await worker.onIdle();
      expect(seen).toEqual([PAYLOAD]);
    });
  });
});
