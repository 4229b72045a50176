import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import express from 'express';
import express4 from 'express4';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createReceiver, type AnyProvider, type Logger, type Receiver, type ReceiverOptions, type WebhookEvent } from '../../src/index.ts';
import { adapters, type Target } from '../helpers/adapters.ts';
import { SIGNATURE_HEADER, deferred, pageEvent, sign, signed, testProvider } from '../helpers/test-provider.ts';

type TestProvider = ReturnType<typeof testProvider>;
type Options = Partial<ReceiverOptions<TestProvider>>;

const receivers: Receiver<TestProvider>[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close({ timeoutMs: 1000 })));
});

function receiver(options: Options = {}): Receiver<TestProvider> {
  const hooks = createReceiver({ provider: testProvider(), retry: { attempts: 1 }, ...options });
  receivers.push(hooks);
  return hooks;
}

const targets: Target[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

/** Collects what a logger is given, to check that secrets never reach it. */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (obj: unknown, msg?: string) => void lines.push(JSON.stringify({ obj, msg }, (_k, v) => (v instanceof Error ? v.message : v)));
  return { lines, debug: log, info: log, warn: log, error: log };
}

// One table of rows for every way of mounting a receiver: Express 5 and 4, node:http, fetchHandler()
// called directly, Hono on @hono/node-server, a Next.js route module (see test/helpers/adapters.ts).
describe.each(Object.entries(adapters))('pipeline over %s', (_name, adapter) => {
  const mount = (hooks: Receiver<TestProvider>): Target => {
    const target = adapter.mount(hooks as unknown as Receiver<AnyProvider>);
    targets.push(target);
    return target;
  };
  const post = (hooks: Receiver<TestProvider>, body: string | Buffer, headers: Record<string, string>) => mount(hooks).send({ headers, body });

  it('responds 202 with the delivery id and runs the typed handler after the answer', async () => {
    const hooks = receiver();
    const target = mount(hooks);
    const seen: WebhookEvent[] = [];
    // A handler whose work is synchronous: it must not run before the answer has left.
    const answeredFirst: boolean[] = [];
    hooks.on('crawl.page', (event) => {
      answeredFirst.push(target.answered());
      seen.push(event);
    });
    const event = pageEvent();
    const { body, headers } = signed(event);
    const res = await target.send({ headers, body });
    expect(res.status).toBe(202);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(res.body).toEqual({ id: event.webhookId });
    await hooks.onIdle();
    expect(answeredFirst).toEqual([true]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id: event.webhookId, type: 'crawl.page', provider: 'test', payload: event, attempt: 1 });
    expect(seen[0]!.receivedAt).toBeInstanceOf(Date);
  });

  it.skipIf(!adapter.allMethods)('responds 405 with Allow: POST to other methods', async () => {
    const hooks = receiver();
    const res = await mount(hooks).send({ method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.body.error.code).toBe('method.not.allowed');
  });

  it('responds 415 to a content type the provider does not send', async () => {
    const hooks = receiver();
    const { body, headers } = signed(pageEvent());
    const res = await post(hooks, body, { ...headers, 'content-type': 'text/plain' });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('content-type.unsupported');
  });

  it('responds 415 to a charset other than UTF-8', async () => {
    const hooks = receiver();
    const { body, headers } = signed(pageEvent());
    const res = await post(hooks, body, { ...headers, 'content-type': 'application/json; charset=iso-8859-1' });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('charset.unsupported');
  });

  it('responds 413 when the body exceeds the limit', async () => {
    const hooks = receiver({ limit: 512 });
    const { body, headers } = signed(pageEvent({ padding: 'x'.repeat(1000) }));
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('entity.too.large');
  });

  it('responds 413 when a chunked body without Content-Length exceeds the limit', async () => {
    const hooks = receiver({ limit: '1kb' });
    const { body, headers } = signed(pageEvent({ padding: 'x'.repeat(4000) }));
    const res = await mount(hooks).send({ headers, body, chunkSize: 500 });
    expect(res.status).toBe(413);
  });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ])('responds 202 to a %s-encoded body, verifying the signature of the inflated bytes', async (encoding, compress) => {
    const hooks = receiver();
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    const { body, headers } = signed(pageEvent());
    const res = await mount(hooks).send({ body: compress(Buffer.from(body)), headers: { ...headers, 'content-encoding': encoding } });
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
  });

  it('responds 413 when a small gzip body inflates past the limit', async () => {
    const hooks = receiver({ limit: 4096 });
    const { body, headers } = signed(pageEvent({ padding: ' '.repeat(100_000) }));
    const compressed = gzipSync(Buffer.from(body));
    expect(compressed.length).toBeLessThan(4096);
    const res = await mount(hooks).send({ body: compressed, headers: { ...headers, 'content-encoding': 'gzip' } });
    expect(res.status).toBe(413);
  });

  it('responds 400 to a body that is not valid gzip, and 415 to an unknown Content-Encoding', async () => {
    const hooks = receiver();
    const { body, headers } = signed(pageEvent());
    const target = mount(hooks);
    const corrupt = await target.send({ body, headers: { ...headers, 'content-encoding': 'gzip' } });
    expect(corrupt.status).toBe(400);
    expect(JSON.parse(corrupt.text).error.code).toBe('encoding.invalid');
    const unknown = await target.send({ body, headers: { ...headers, 'content-encoding': 'zstd' } });
    expect(unknown.status).toBe(415);
    expect(JSON.parse(unknown.text).error.code).toBe('encoding.unsupported');
  });

  describe('authentication', () => {
    const cases: [string, (body: string, headers: Record<string, string>) => [string, Record<string, string>]][] = [
      ['a wrong signature', (b, h) => [b, { ...h, [SIGNATURE_HEADER]: sign(b, 'other-secret') }]],
      ['a body changed by one byte', (b, h) => [b.replace('Title', 'Titlf'), h]],
      ['a missing signature header', (b, h) => [b, { 'content-type': h['content-type']! }]],
      ['a signature without its prefix', (b, h) => [b, { ...h, [SIGNATURE_HEADER]: h[SIGNATURE_HEADER]!.slice('sha256='.length) }]],
      ['a truncated signature', (b, h) => [b, { ...h, [SIGNATURE_HEADER]: h[SIGNATURE_HEADER]!.slice(0, -2) }]],
      ['an empty signature', (b, h) => [b, { ...h, [SIGNATURE_HEADER]: '' }]],
    ];
    it.each(cases)('responds 401 with the same body to %s, and nothing is dispatched', async (_label, tamper) => {
      const hooks = receiver();
      const handled = vi.fn();
      hooks.onAny(handled);
      const original = signed(pageEvent());
      const [body, headers] = tamper(original.body, original.headers);
      const res = await post(hooks, body, headers);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: 'unauthorized', message: 'Authentication failed' } });
      await hooks.onIdle();
      expect(handled).not.toHaveBeenCalled();
    });

    it('accepts a delivery signed with any of several secrets (rotation)', async () => {
      const hooks = receiver({ provider: testProvider({ secrets: ['old-secret', 'new-secret'] }) });
      for (const secret of ['old-secret', 'new-secret']) {
        const { body, headers } = signed(pageEvent(), secret);
        expect((await post(hooks, body, headers)).status).toBe(202);
      }
      const { body, headers } = signed(pageEvent(), 'retired-secret');
      expect((await post(hooks, body, headers)).status).toBe(401);
    });

    it('authenticates before parsing: a malformed body with a bad signature answers 401, not 400', async () => {
      const hooks = receiver();
      const res = await post(hooks, '{not json', { 'content-type': 'application/json', [SIGNATURE_HEADER]: sign('other') });
      expect(res.status).toBe(401);
    });
  });

  it('responds 400 to malformed JSON without echoing the body', async () => {
    const hooks = receiver();
    const { body, headers } = signed('{"type":"crawl.page","secretish":"do-not-echo"');
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('entity.parse.failed');
    expect(res.text).not.toContain('do-not-echo');
  });

  it('responds 400 when the body does not say which event it is', async () => {
    const hooks = receiver();
    const { body, headers } = signed({ webhookId: 'x', data: [] });
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('event.type.missing');
  });

  it('responds 400 naming the failing paths, and reports the delivery to onInvalid', async () => {
    const hooks = receiver();
    const invalid = vi.fn();
    hooks.onInvalid(invalid);
    const handled = vi.fn();
    hooks.onAny(handled);
    const event = pageEvent({ data: [{ markdown: 42, metadata: { url: 'https://e.com', statusCode: 'ok' } }] });
    const { body, headers } = signed(event);
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('payload.invalid');
    expect(res.body.error.issues.map((i: { path: unknown[] }) => i.path)).toEqual([
      ['data', 0, 'markdown'],
      ['data', 0, 'metadata', 'statusCode'],
    ]);
    expect(invalid).toHaveBeenCalledOnce();
    const reported = invalid.mock.calls[0]![0];
    expect(reported).toMatchObject({ provider: 'test', type: 'crawl.page', body: event });
    expect(reported.rawBody.toString()).toBe(body);
    expect(reported.headers[SIGNATURE_HEADER]).toBe(headers[SIGNATURE_HEADER]);
    await hooks.onIdle();
    expect(handled).not.toHaveBeenCalled();
  });

  it('accepts an unknown event type with a valid envelope: it reaches onAny only', async () => {
    const hooks = receiver();
    const any = vi.fn();
    const page = vi.fn();
    hooks.onAny(any);
    hooks.on('crawl.page', page);
    hooks.on('crawl.*', page);
    const { body, headers } = signed({ type: 'monitor.page', webhookId: 'm-1', data: { status: 'changed' } });
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(any).toHaveBeenCalledOnce();
    expect(any.mock.calls[0]![0]).toMatchObject({ type: 'monitor.page', payload: { data: { status: 'changed' } } });
    expect(page).not.toHaveBeenCalled();
  });

  it('responds 400 to an unknown event type whose envelope is invalid', async () => {
    const hooks = receiver();
    const { body, headers } = signed({ type: 'monitor.page' });
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['webhookId']);
  });

  it('answers a duplicate 200 and does not dispatch it again', async () => {
    const hooks = receiver();
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    const { body, headers } = signed(pageEvent());
    expect((await post(hooks, body, headers)).status).toBe(202);
    const again = await post(hooks, body, headers);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ duplicate: true });
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
    expect(hooks.stats()).toMatchObject({ accepted: 1, duplicates: 1 });
  });

  it('dispatches 10 concurrent identical deliveries once', async () => {
    const hooks = receiver();
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    const { body, headers } = signed(pageEvent());
    const target = mount(hooks);
    const statuses = await Promise.all(Array.from({ length: 10 }, () => target.send({ headers, body }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(9);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
  });

  it('dispatches every delivery when dedupe is off', async () => {
    const hooks = receiver({ dedupe: false });
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    const { body, headers } = signed(pageEvent());
    expect((await post(hooks, body, headers)).status).toBe(202);
    expect((await post(hooks, body, headers)).status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledTimes(2);
  });

  it('answers 503 with Retry-After once close() was called', async () => {
    const hooks = receiver({ retryAfterSeconds: 7 });
    await hooks.close();
    const { body, headers } = signed(pageEvent());
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.body.error.code).toBe('receiver.closing');
  });

  it('answers the sender before a blocked handler finishes', async () => {
    const hooks = receiver();
    const gate = deferred();
    const started = deferred();
    let finished = false;
    hooks.on('crawl.page', async () => {
      started.resolve();
      await gate.promise;
      finished = true;
    });
    const { body, headers } = signed(pageEvent());
    const res = await post(hooks, body, headers);
    expect(res.status).toBe(202);
    await started.promise;
    expect(finished).toBe(false);
    expect(hooks.stats().running).toBe(1);
    gate.resolve();
    await hooks.onIdle();
    expect(finished).toBe(true);
  });

  it('never logs a secret token from the URL path or query', async () => {
    const logger = memoryLogger();
    const hooks = receiver({ logger });
    const { body, headers } = signed(pageEvent(), 'wrong');
    await mount(hooks).send({ path: '/hook?token=super-secret-token', headers, body });
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.join('\n')).not.toContain('super-secret-token');
    expect(logger.lines.join('\n')).toContain('token=[redacted]');
  });
});

// Both majors' body parsers: Express 4's body-parser 1.x marks a consumed stream differently from 5's.
describe.each([
  ['Express 5', express],
  ['Express 4', express4 as unknown as typeof express],
] as const)('middleware() behind other body parsers on %s', (_name, express) => {
  it('responds 500 with a clear sentence when express.json() consumed the body first', async () => {
    const hooks = receiver();
    const handled = vi.fn();
    hooks.onAny(handled);
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const app = express();
    app.use(express.json());
    app.all('/hook', hooks.middleware());
    const { body, headers } = signed(pageEvent());
    const res = await request(app).post('/hook').set(headers).send(body);
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('body.already.parsed');
    expect(res.body.error.message).toMatch(/mount hooks\.middleware\(\).*before any body parser/);
    expect(warning).toHaveBeenCalledOnce();
    warning.mockRestore();
    await hooks.onIdle();
    expect(handled).not.toHaveBeenCalled();
  });

  it('uses the raw bytes kept by express.raw()', async () => {
    const hooks = receiver();
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    const app = express();
    app.use(express.raw({ type: '*/*' }));
    app.all('/hook', hooks.middleware());
    const { body, headers } = signed(pageEvent());
    expect((await request(app).post('/hook').set(headers).send(body)).status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
  });

  it('uses req.rawBody kept by a verify callback, so signatures still check', async () => {
    const hooks = receiver();
    const app = express();
    app.use(
      express.json({
        verify: (req, _res, buf) => {
          (req as { rawBody?: Buffer }).rawBody = buf;
        },
      }),
    );
    app.all('/hook', hooks.middleware());
    const { body, headers } = signed(pageEvent());
    expect((await request(app).post('/hook').set(headers).send(body)).status).toBe(202);
    const tampered = await request(app).post('/hook').set(headers).send(body.replace('crawl-1', 'crawl-2'));
    expect(tampered.status).toBe(401);
  });

  it('sees a body the request inherits from app.request, as well as one set on the request', async () => {
    // The pipeline looks for rawBody/body/_body on the request itself, and on its prototype chain
    // once per prototype: a getter on app.request must still be found.
    const hooks = receiver();
    const handled = vi.fn();
    hooks.on('crawl.page', handled);
    const app = express();
    const { body, headers } = signed(pageEvent());
    Object.defineProperty(app.request, 'rawBody', { configurable: true, get: () => Buffer.from(body) });
    app.use(express.raw({ type: 'text/never' })); // reads nothing: the stream stays unread
    app.all('/hook', hooks.middleware());
    // Sent with a body that does not match the signature: 202 proves the inherited rawBody was used.
    expect((await request(app).post('/hook').set(headers).send(body.replace('crawl-1', 'crawl-2'))).status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
  });
});
