import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signed } from './test-provider.ts';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * Sends exact bytes (supertest re-serializes a Buffer sent with a JSON content type) to a
 * request listener or an Express app on an ephemeral port, optionally in several chunks without
 * Content-Length.
 */
export async function sendRaw(
  target: http.RequestListener | http.Server,
  options: { method?: string; path?: string; headers?: Record<string, string>; body: Buffer | string; chunkSize?: number },
): Promise<RawResponse> {
  const server = target instanceof http.Server ? target : http.createServer(target);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = Buffer.from(options.body);
    return await new Promise<RawResponse>((resolve, reject) => {
      const headers = { ...options.headers };
      if (!options.chunkSize) headers['content-length'] = String(body.length);
      const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path ?? '/hook', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      const size = options.chunkSize ?? body.length;
      for (let i = 0; i < body.length; i += size) req.write(body.subarray(i, i + size));
      req.end();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A sender's view of one POST: status, Retry-After, the error code of a 503, and the body. */
export interface Posted {
  status: number;
  retryAfter: string | null;
  code: string | undefined;
  text: string;
}

/**
 * Serves `handler` (a receiver's nodeHandler()) over real HTTP on 127.0.0.1, port 0; `post()`
 * signs a test-provider event and POSTs it to /hook as a sender would, giving up after 10 s.
 * `close()` drops the connections and stops listening (close the receiver yourself).
 */
export async function serveSigned(handler: http.RequestListener): Promise<{ post(event: Record<string, unknown>): Promise<Posted>; close(): void }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    async post(event) {
      const { body, headers } = signed(event);
      const res = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      return { status: res.status, retryAfter: res.headers.get('retry-after'), code: res.status === 503 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined, text };
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
