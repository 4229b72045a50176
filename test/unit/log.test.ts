import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import express from 'express';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver, defineProvider, redactUrl, secretToken, WebhookError, type Logger, type Receiver } from '../../src/index.ts';
import { safeError, safeLogger, scrubMessage } from '../../src/log.ts';
import { deferred } from '../helpers/test-provider.ts';

describe('redactUrl()', () => {
  const params = { token: 's3cr3t' };

  it('hides a route parameter wherever it stands in the path, percent-encoded or not', () => {
    expect(redactUrl('/hooks/s3cr3t', params)).toBe('/hooks/:token');
    expect(redactUrl('/hooks/key-s3cr3t', params)).toBe('/hooks/key-:token');
    expect(redactUrl('/hooks/key-s3cr3t-end/x', params)).toBe('/hooks/key-:token-end/x');
    expect(redactUrl('/hooks/key-s3cr%33t', params)).toBe('/hooks/key-:token');
    expect(redactUrl('/hooks/%73%33%63%72%33%74', params)).toBe('/hooks/:token');
    expect(redactUrl('/hooks/key-s3cr%33t%ZZ', params)).not.toContain('cr3t');
    expect(redactUrl('/hooks/a%2Fs3cr3t', params)).toBe('/hooks/a%2F:token');
    expect(redactUrl('/s3cr3t/s3cr3t', params)).toBe('/:token/:token');
    // A wildcard parameter (Express 5 gives its segments as an array) spans segments.
    expect(redactUrl('/files/a/s3cr3t/b', { rest: ['a', 's3cr3t', 'b'] } as never)).toBe('/files/:rest');
    expect(redactUrl('/files/a%2Fb', { rest: 'a/b' })).toBe('/files/:rest');
    // The longest value first: one containing another is hidden whole.
    expect(redactUrl('/h/abc-abcdef', { short: 'abc', long: 'abcdef' })).toBe('/h/:short-:long');
  });

  it('redacts every query component, with or without "="', () => {
    expect(redactUrl('/hooks?s3cr3t')).toBe('/hooks?[redacted]');
    expect(redactUrl('/hooks?a=1&s3cr3t')).toBe('/hooks?a=[redacted]&[redacted]');
    expect(redactUrl('/hooks?token=s3cr3t')).toBe('/hooks?token=[redacted]');
    expect(redactUrl('/hooks?token=s3cr3t&', params)).toBe('/hooks?token=[redacted]&');
    expect(redactUrl('/hooks?s3cr3t;a=1')).toBe('/hooks?[redacted]');
    expect(redactUrl('/hooks?a-very-long-name-that-may-be-a-token-xyz=1')).toBe('/hooks?[redacted]');
    expect(redactUrl('/hooks/apify/s3cr%65t?token=abc&x', { token: 's3cret' })).toBe('/hooks/apify/:token?token=[redacted]&[redacted]');
    expect(redactUrl('/hooks')).toBe('/hooks');
    expect(redactUrl('/hooks', { token: '' })).toBe('/hooks');
  });
});

/** An error as ioredis and BullMQ build them: the failed command, connection options, earlier errors. */
function redisLikeError(): Error {
  const reply = Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), {
    name: 'ReplyError',
    command: { name: 'auth', args: ['hunter2'] },
  });
  const body = Buffer.from('{"secret":"BODY-BYTES"}');
  const error = Object.assign(new Error('Connection to redis://app:hunter2@cache:6379 failed (password=hunter2)', { cause: reply }), {
    code: 'ECONNREFUSED',
    errno: -111,
    command: { name: 'evalsha', args: ['sha', 1, 'key', body] },
    args: [body],
    options: { host: 'cache', password: 'hunter2' },
    previousErrors: [reply],
    lastNodeError: reply,
  });
  return error;
}

function everything(value: unknown): string {
  return `${JSON.stringify(value)}\n${inspect(value, { depth: Infinity, showHidden: true, maxStringLength: Infinity })}`;
}

describe('safeError()', () => {
  it('keeps name, message, code and stack, and drops commands, options and bodies', () => {
    const original = redisLikeError();
    const copy = safeError(original);
    const text = everything(copy);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('BODY-BYTES');
    expect(copy).toBeInstanceOf(Error);
    expect(copy.message).toBe('Connection to redis://app:***@cache:6379 failed (password=***)');
    expect(copy.stack).toMatch(/^Error: Connection to redis:\/\/app:\*\*\*@cache/);
    expect(copy.stack).toContain('log.test.ts');
    expect(copy).toMatchObject({ code: 'ECONNREFUSED', errno: -111 });
    expect(copy).not.toHaveProperty('command');
    expect(copy).not.toHaveProperty('options');
    expect(copy).not.toHaveProperty('previousErrors');
    const cause = copy.cause as Error;
    expect(cause.name).toBe('ReplyError');
    expect(cause.message).toMatch(/^WRONGPASS/);
    expect(cause).not.toHaveProperty('command');
    // The original is left as it was.
    expect(original).toHaveProperty('command');
  });

  it('keeps a WebhookError a WebhookError, and cleans AggregateError members and cycles', () => {
    const inner = redisLikeError();
    const aggregate = new AggregateError([inner, 'token=abc'], 'all failed');
    const error = new WebhookError('handler.failed', 'A handler failed', { cause: aggregate });
    (aggregate as { cause?: unknown }).cause = error;
    const copy = safeError(error);
    expect(copy).toBeInstanceOf(WebhookError);
    expect(copy).toMatchObject({ type: 'handler.failed', status: 500, name: 'WebhookError', message: 'A handler failed' });
    expect(copy.toJSON()).toEqual(error.toJSON());
    const members = (copy.cause as AggregateError).errors;
    expect(copy.cause).toBeInstanceOf(AggregateError);
    expect(members[1]).toBe('token=***');
    expect(everything(copy)).not.toContain('hunter2');
    expect((copy.cause as { cause?: unknown }).cause).toBe(copy);
  });

  it('scrubs URL credentials and password pairs from messages, once', () => {
    expect(scrubMessage('redis://tok3n@cache:6379 and rediss://u:p4ss@h')).toBe('redis://***@cache:6379 and rediss://u:***@h');
    expect(scrubMessage('redis://u:***@h')).toBe('redis://u:***@h');
    expect(scrubMessage('AUTH failed: password=p4ss, token: "a b"')).toBe('AUTH failed: password=***, token: ***');
    expect(scrubMessage('x'.repeat(5000))).toHaveLength(2000 + '… [cut]'.length);
  });

  it('returns what is not an error as it is', () => {
    expect(safeError('text')).toBe('text');
    expect(safeError(undefined)).toBe(undefined);
  });
});

describe('safeLogger()', () => {
  it('hands the logger clean copies of every error field, and calls it as a method', () => {
    const calls: unknown[][] = [];
    const target = {
      prefix: 'p',
      debug(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      info(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      warn(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      error(...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
    } as Logger & { prefix: string };
    const logger = safeLogger(target);
    logger.error({ err: redisLikeError(), other: redisLikeError(), id: 'x' }, 'failed');
    logger.warn(redisLikeError());
    logger.info('just text');
    expect(calls).toHaveLength(3);
    expect(calls[0]![0]).toBe('p');
    expect(calls[0]![2]).toBe('failed');
    expect(calls[2]).toEqual(['p', 'just text']);
    expect(everything(calls)).not.toContain('hunter2');
    expect(everything(calls)).not.toContain('BODY-BYTES');
    expect(safeLogger(logger)).toBe(logger);
  });
});

describe('route parameters in logged URLs, through real HTTP', () => {
  const TOKEN = 'tok-9f8e7d6c5b4a';
  const receivers: Receiver<ReturnType<typeof tokenProvider>>[] = [];
  afterEach(async () => {
    for (const hooks of receivers.splice(0)) await hooks.close();
  });

  function tokenProvider() {
    return defineProvider({
      name: 'token-test',
      verify: secretToken({ token: TOKEN, param: 'token', query: 'token' }),
      eventType: 'type',
      events: { ping: z.object({ type: z.literal('ping'), id: z.string() }) },
      envelope: z.looseObject({ type: z.string() }),
      dedupeId: ({ payload }) => (typeof payload.id === 'string' ? payload.id : undefined),
    });
  }

  it('never shows the token of a rejected request, in a segment, encoded or in the query', async () => {
    const lines: string[] = [];
    const log = (obj: unknown, msg?: string) => void lines.push(JSON.stringify({ obj, msg }));
    const logged = deferred();
    const logger: Logger = { debug: log, info: log, error: log, warn: (obj: unknown, msg?: string) => (log(obj, msg), logged.resolve()) };
    const hooks = createReceiver({ provider: tokenProvider(), logger });
    receivers.push(hooks);
    const app = express();
    app.post('/hooks/key-:token', hooks.middleware());
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const encoded = [...TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
    const paths = [
      // The right token, a body failing the schema: 400, logged.
      `/hooks/key-${TOKEN}`,
      `/hooks/key-${encoded}`,
      `/hooks/key-${TOKEN}?${TOKEN}`,
      `/hooks/key-${TOKEN}?a=1&${TOKEN}`,
      `/hooks/key-${TOKEN}?token=${TOKEN}`,
      // A wrong token in the path, the right one in the query: 401 with the path's value hidden.
      `/hooks/key-wrong-${TOKEN}x?token=nope`,
    ];
    try {
      for (const path of paths) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'ping' }),
        });
        expect([400, 401]).toContain(res.status);
        await res.arrayBuffer();
      }
      await logged.promise;
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(lines).toHaveLength(paths.length);
    const text = lines.join('\n');
    expect(text).toContain('/hooks/key-:token');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(encoded);
    expect(text).not.toContain('9f8e7d6c5b4a');
  });
});

describe('a failed delivery in logs, onError and dead letters', () => {
  it('shows no credential nor command of the error a handler threw', async () => {
    const TOKEN = 'tok-0a1b2c3d';
    const lines: string[] = [];
    const log = (obj: unknown, msg?: string) => void lines.push(everything({ obj, msg }));
    const hooks = createReceiver({
      provider: defineProvider({
        name: 'token-test',
        verify: secretToken({ token: TOKEN, query: 'token' }),
        eventType: 'type',
        events: { ping: z.object({ type: z.literal('ping'), id: z.string() }) },
        envelope: z.looseObject({ type: z.string() }),
        dedupeId: ({ payload }) => (typeof payload.id === 'string' ? payload.id : undefined),
      }),
      logger: { debug: log, info: log, warn: log, error: log },
      retry: { attempts: 1 },
    });
    hooks.onAny(() => {
      throw redisLikeError();
    });
    const failed = deferred<WebhookError>();
    hooks.onError((error) => failed.resolve(error));
    const server = http.createServer(hooks.nodeHandler());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/hook?token=${TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"ping","id":"p1"}' });
      expect(res.status).toBe(202);
      const error = await failed.promise;
      await hooks.onIdle();
      expect(error).toBeInstanceOf(WebhookError);
      expect((error.cause as Error).message).toBe('Connection to redis://app:***@cache:6379 failed (password=***)');
      const [letter] = await hooks.deadLetters();
      expect(letter!.error.message).toContain('redis://app:***@cache');
      const text = [...lines, everything(error), everything(letter)].join('\n');
      expect(lines.length).toBeGreaterThan(0);
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('BODY-BYTES');
      expect(text).not.toContain(TOKEN);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await hooks.close();
    }
  });
});
