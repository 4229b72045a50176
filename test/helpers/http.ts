import http from 'node:http';
import type { AddressInfo } from 'node:net';

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
