import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver, defineProvider, redactUrl, secretToken, type Logger, type Receiver } from '../../src/index.ts';
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
