import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver, defineProvider, secretToken, WebhookError, type Logger, type Receiver } from '../../src/index.ts';
import { everything, redisLikeError } from '../helpers/leaky-error.ts';
import { deferred } from '../helpers/test-provider.ts';

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
