import http from 'node:http';
import express from 'express';
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { apify, createReceiver, defineProvider, type Logger } from '../../src/index.ts';
import { apifyDelivery, sendDelivery, type TestDelivery } from '../../src/testing/index.ts';
import { sendRaw } from '../helpers/http.ts';
import { closeAfterEach } from '../helpers/receivers.ts';

const TOKEN = 'tok-3f9a.c0ffee';

const track = closeAfterEach();

/** Collects what a logger is given. */
function memoryLogger(): Logger & { warnings: { obj: unknown; msg: string | undefined }[]; text(): string } {
  const warnings: { obj: unknown; msg: string | undefined }[] = [];
  const all: string[] = [];
  const log = (obj: unknown, msg?: string) => void all.push(JSON.stringify({ obj, msg }));
  return {
    warnings,
    text: () => all.join('\n'),
    debug: log,
    info: log,
    error: log,
    warn: (obj: unknown, msg?: string) => {
      warnings.push({ obj, msg });
      log(obj, msg);
    },
  };
}

/** A provider that accepts everything and records the route parameters its verifier saw. */
function paramsProvider(seen: Record<string, string>[]) {
  return defineProvider({
    name: 'params',
    verify: (ctx) => {
      seen.push({ ...ctx.params });
      return true;
    },
    eventType: () => 'ping',
    events: { ping: z.looseObject({}) },
    envelope: z.looseObject({}),
    dedupeId: () => `id-${Math.random()}`,
  });
}

const post = (path: string): TestDelivery => ({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });

describe('nodeHandler({ path })', () => {
  it("authenticates the testing builder's default token-in-path Apify delivery and runs the handler", async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const handled = vi.fn();
    hooks.on('ACTOR.RUN.SUCCEEDED', handled);
    const delivery = apifyDelivery({ token: TOKEN });
    expect(delivery.path).toBe(`/webhooks/apify/${TOKEN}`);
    const res = await sendDelivery(hooks.nodeHandler({ path: '/webhooks/apify/:token' }), delivery);
    expect(res.status).toBe(202);
    await hooks.onIdle();
    expect(handled).toHaveBeenCalledOnce();
  });

  it('still answers 401 to a wrong token in the path', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const res = await sendDelivery(hooks.nodeHandler({ path: '/webhooks/apify/:token' }), apifyDelivery({ token: 'not-the-token' }));
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: { code: 'unauthorized', message: 'Authentication failed' } });
  });

  it("gives verifiers the same params as Express's req.params (decoded, case-insensitive, trailing slash, query ignored)", async () => {
    const paths = ['/Hooks/a%20b%2Fc/x', '/hooks/plain/x/', '/hooks/caf%C3%A9/x?token=q', '/hooks/one'];
    const viaNode: Record<string, string>[] = [];
    const viaExpress: Record<string, string>[] = [];
    const nodeHooks = track(createReceiver({ provider: paramsProvider(viaNode) }));
    const expressHooks = track(createReceiver({ provider: paramsProvider(viaExpress) }));
    const app = express();
    app.all('/hooks/:token{/:extra}', expressHooks.middleware());
    const listener = nodeHooks.nodeHandler({ path: '/hooks/:token{/:extra}' });
    for (const path of paths) {
      expect((await sendDelivery(listener, post(path))).status).toBe(202);
      expect((await sendDelivery(app, post(path))).status).toBe(202);
    }
    expect(viaNode).toEqual(viaExpress);
    expect(viaNode).toEqual([{ token: 'a b/c', extra: 'x' }, { token: 'plain', extra: 'x' }, { token: 'café', extra: 'x' }, { token: 'one' }]);
  });

  it('answers 404 route.not.found to another path, whatever the method, and dispatches nothing', async () => {
    const logger = memoryLogger();
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }), logger }));
    const handled = vi.fn();
    hooks.onAny(handled);
    const listener = hooks.nodeHandler({ path: '/webhooks/apify/:token' });
    const delivery = apifyDelivery({ token: TOKEN });
    for (const path of [`/webhooks/apify/${TOKEN}/extra`, '/webhooks/apify', '/webhooks/apify/', `/other/${TOKEN}`, `/webhooks/apify/${TOKEN}%ZZ`]) {
      const res = await sendDelivery(listener, { ...delivery, path });
      expect(res.status, path).toBe(404);
      expect(res.json).toEqual({ error: { code: 'route.not.found', message: 'No webhook is received at this path' } });
    }
    const get = await sendRaw(listener, { method: 'GET', path: '/elsewhere', body: '' });
    expect(get.status).toBe(404);
    expect(hooks.stats().rejected['route.not.found']).toBe(6);
    await hooks.onIdle();
    expect(handled).not.toHaveBeenCalled();
    expect(logger.text()).not.toContain(TOKEN);
  });

  it('answers 405 with Allow: POST to another method on the matched path', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const res = await sendRaw(hooks.nodeHandler({ path: '/webhooks/apify/:token' }), { method: 'GET', path: `/webhooks/apify/${TOKEN}`, body: '' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
  });

  it('refuses a path that is not a route pattern, or holds a wildcard, with a TypeError', () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    expect(() => hooks.nodeHandler({ path: 'webhooks/apify/:token' })).toThrow(TypeError);
    expect(() => hooks.nodeHandler({ path: '/webhooks/apify/:' })).toThrow(/Expected `path` to be a route path/);
    expect(() => hooks.nodeHandler({ path: '/webhooks/*rest' })).toThrow(/without wildcards/);
  });
});

describe('a token read from a route parameter the mount does not define', () => {
  it('answers 401 with the usual body, and says once, at warn, which parameter is missing and how to mount', async () => {
    const logger = memoryLogger();
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }), logger }));
    const listener = hooks.nodeHandler(); // no path: no route parameters
    for (let i = 0; i < 2; i++) {
      const res = await sendDelivery(listener, apifyDelivery({ token: TOKEN }));
      expect(res.status).toBe(401);
      expect(res.json).toEqual({ error: { code: 'unauthorized', message: 'Authentication failed' } });
    }
    const hints = logger.warnings.filter((w) => w.msg?.includes('route parameter'));
    expect(hints).toHaveLength(1);
    expect(hints[0]!.obj).toEqual({ provider: 'apify', param: 'token' });
    expect(hints[0]!.msg).toContain('`token`');
    expect(hints[0]!.msg).toContain("nodeHandler({ path: '/webhooks/apify/:token' })");
    expect(hints[0]!.msg).not.toContain(TOKEN);
  });

  it('says nothing when the token was found elsewhere, or when the route defines the parameter', async () => {
    const logger = memoryLogger();
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }), logger }));
    expect((await sendDelivery(hooks.nodeHandler(), apifyDelivery({ token: TOKEN, tokenIn: 'query' }))).status).toBe(202);
    const routed = hooks.nodeHandler({ path: '/webhooks/apify/:token' });
    expect((await sendDelivery(routed, apifyDelivery({ token: 'wrong' }))).status).toBe(401);
    expect(logger.warnings.filter((w) => w.msg?.includes('route parameter'))).toEqual([]);
  });
});

describe('nodeHandler() without a path', () => {
  it('receives at any path, as before', async () => {
    const hooks = track(createReceiver({ provider: apify({ token: TOKEN }) }));
    const server = http.createServer(hooks.nodeHandler());
    const res = await sendDelivery(server, apifyDelivery({ token: TOKEN, tokenIn: 'header', path: '/any/where' }));
    expect(res.status).toBe(202);
  });
});
