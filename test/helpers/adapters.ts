import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { scrapehookFastify } from '../../src/fastify.ts';
import type { AnyProvider, Receiver } from '../../src/index.ts';

/** A request as the shared pipeline rows send it. */
export interface Sent {
  method?: string;
  /** Path and query. @default '/hook' */
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Sends the body in chunks of this size, without Content-Length. */
  chunkSize?: number;
}

/** An answer, whichever way it came. */
export interface Answered {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  body: any;
}

/** One way of mounting a receiver, as the pipeline rows use it. */
export interface Target {
  send(request: Sent): Promise<Answered>;
  /**
   * Whether the answer to the latest request has left the adapter: ended and handed to the socket
   * (nothing left in Node's buffers), or, for a fetch handler, the `Response` handed back.
   */
  answered(): boolean;
  close(): Promise<void>;
}

export interface Adapter {
  /** Mounts the receiver; the path is `/hook`. */
  mount(hooks: Receiver<AnyProvider>): Target;
  /**
   * Whether every method reaches the receiver (so it answers 405 itself). A Next.js route module
   * exports `POST` only, and Next.js answers other methods 405 before any code of the module runs.
   */
  allMethods: boolean;
}

function parsed(status: number, headers: Record<string, string>, text: string): Answered {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status, headers, text, body };
}

/** A `node:http` server, listened on an ephemeral port on first use, sent exact bytes. */
export function serverTarget(server: http.Server): Target {
  let listening: Promise<number> | undefined;
  let latest: http.ServerResponse | undefined;
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    latest = res;
  });
  const port = () =>
    (listening ??= new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))));
  return {
    async send({ method = 'POST', path = '/hook', headers = {}, body, chunkSize }) {
      const bytes = body === undefined ? undefined : Buffer.from(body);
      const sentHeaders: Record<string, string> = { ...headers };
      if (bytes !== undefined && !chunkSize) sentHeaders['content-length'] = String(bytes.length);
      const p = await port();
      return new Promise<Answered>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: p, method, path, headers: sentHeaders, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const out: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
            resolve(parsed(res.statusCode ?? 0, out, Buffer.concat(chunks).toString()));
          });
        });
        req.on('error', reject);
        if (bytes !== undefined) {
          const size = chunkSize ?? bytes.length;
          for (let i = 0; i < bytes.length; i += size) req.write(bytes.subarray(i, i + size));
        }
        req.end();
      });
    },
    answered: () => latest !== undefined && latest.writableEnded && (latest.socket?.writableLength ?? 0) === 0,
    async close() {
      if (listening === undefined) return;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A Fastify app, listened on an ephemeral port on first use. */
export function fastifyTarget(build: () => Promise<ReturnType<typeof Fastify>>): Target {
  let app: Promise<ReturnType<typeof Fastify>> | undefined;
  let target: Target | undefined;
  const ready = async () => {
    app ??= build().then(async (fastify) => {
      await fastify.ready();
      return fastify;
    });
    target ??= serverTarget((await app).server);
    return target;
  };
  return {
    send: async (sent) => (await ready()).send(sent),
    answered: () => target?.answered() ?? false,
    async close() {
      if (app === undefined) return;
      await target?.close();
      await (await app).close();
    },
  };
}

/** The `Request` a fetch runtime would build for what was sent: a chunked body arrives as a stream. */
export function toRequest({ method = 'POST', path = '/hook', headers = {}, body, chunkSize }: Sent): Request {
  const init: RequestInit & { duplex?: 'half' } = { method, headers: { ...headers } };
  if (body !== undefined && method !== 'GET' && method !== 'HEAD') {
    const bytes = Buffer.from(body);
    if (chunkSize) {
      let offset = 0;
      init.body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(new Uint8Array(bytes.subarray(offset, (offset += chunkSize))));
        },
      });
      init.duplex = 'half';
    } else {
      (init.headers as Record<string, string>)['content-length'] = String(bytes.length);
      init.body = bytes;
    }
  }
  return new Request(`http://localhost${path}`, init);
}

async function fromResponse(response: Response): Promise<Answered> {
  return parsed(response.status, Object.fromEntries(response.headers), await response.text());
}

/** Calls a fetch-style function directly, with no server. */
export function fetchTarget(call: (request: Request) => Promise<Response>): Target {
  let handedBack = false;
  return {
    async send(sent) {
      handedBack = false;
      const response = await call(toRequest(sent));
      handedBack = true;
      return fromResponse(response);
    },
    answered: () => handedBack,
    close: async () => undefined,
  };
}

/** Every way of mounting a receiver that the shared pipeline rows run against. */
export const adapters: Record<string, Adapter> = {
  'Express 5': {
    allMethods: true,
    mount(hooks) {
      const app = express();
      app.all('/hook', hooks.middleware());
      return serverTarget(http.createServer(app));
    },
  },
  // The `express4` alias: the peer range accepts Express 4.
  'Express 4': {
    allMethods: true,
    mount(hooks) {
      const app = express4();
      app.all('/hook', hooks.middleware());
      return serverTarget(http.createServer(app));
    },
  },
  'node:http': {
    allMethods: true,
    mount: (hooks) => serverTarget(http.createServer(hooks.nodeHandler())),
  },
  'fetchHandler() called directly': {
    allMethods: true,
    mount(hooks) {
      const handler = hooks.fetchHandler();
      return fetchTarget((request) => handler(request));
    },
  },
  'Hono on @hono/node-server': {
    allMethods: true,
    mount(hooks) {
      const handler = hooks.fetchHandler();
      const app = new Hono();
      app.all('/hook', (c) => handler(c.req.raw, { params: c.req.param() }));
      return serverTarget(createAdaptorServer({ fetch: app.fetch }) as http.Server);
    },
  },
  'the Fastify plugin': {
    allMethods: true,
    mount(hooks) {
      return fastifyTarget(async () => {
        const app = Fastify();
        await app.register(scrapehookFastify, { receiver: hooks, path: '/hook' });
        return app;
      });
    },
  },
  'a Next.js route module': {
    allMethods: false,
    mount(hooks) {
      // What app/api/.../route.ts exports; Next.js calls it with the Request and `{ params: Promise }`.
      const route: Partial<Record<string, (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>>> = {
        POST: hooks.fetchHandler(),
      };
      return fetchTarget((request) => {
        const method = route[request.method];
        if (method === undefined) throw new Error(`The route module exports no ${request.method}`);
        return method(request, { params: Promise.resolve({}) });
      });
    },
  },
};
