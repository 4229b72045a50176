import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createReceiver, type ReceiverOptions } from '../../src/index.ts';
import express from 'express';
import { track } from '../providers/helpers.ts';
import { testProvider } from '../helpers/test-provider.ts';

// Answers given before the body was read to its end (413, 405, 415, 503, 408) must reach a sender
// that is still uploading, and no client may hold a connection or memory for long.

const MiB = 1024 * 1024;
const servers: http.Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

type Mount = 'nodeHandler' | 'middleware';

async function listen(mount: Mount, options: Partial<ReceiverOptions<ReturnType<typeof testProvider>>> = {}): Promise<number> {
  const hooks = track(createReceiver({ provider: testProvider(), ...options }));
  // app.all: every method reaches the middleware, so it answers the 405 itself.
  const server = http.createServer(mount === 'nodeHandler' ? hooks.nodeHandler() : express().all('/hook', hooks.middleware()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * Uploads `size` bytes on a fresh connection as many senders' HTTP clients do (Python's
 * http.client, PHP streams): the whole body first, and only then the answer. What it gets: the
 * answer's status and error code, or the error (EPIPE, ECONNRESET) it saw instead. `chunked` sends
 * the body without Content-Length, so the receiver learns it is too large only while reading it.
 */
function upload(
  port: number,
  size: number,
  options: { method?: string; contentType?: string; chunked?: boolean } = {},
): Promise<{ status: number; code: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let sent = false;
    const read = () => {
      const text = Buffer.concat(received).toString();
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1]);
      if (!sent || end === -1 || !(text.length - end - 4 >= length)) return false;
      resolve({ status: Number(text.slice(9, 12)), code: /"code":"([^"]+)"/.exec(text)?.[1] ?? '' });
      socket.destroy();
      return true;
    };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      read();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    socket.on('close', () => resolve({ error: 'closed without a whole answer' }));
    const framing = options.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`;
    const head = Buffer.from(`${options.method ?? 'POST'} /hook HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${options.contentType ?? 'application/json'}\r\n${framing}\r\n\r\n`);
    const body = Buffer.alloc(size, 0x20);
    const message = options.chunked ? [head, Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')] : [head, body];
    socket.write(Buffer.concat(message), (error) => {
      if (error) return;
      // All sent: now the answer counts.
      sent = true;
      read();
    });
  });
}

describe.each(['nodeHandler', 'middleware'] as const)('early answers through %s', (mount) => {
  it('answers 413 to an 11 MiB upload against a 10 MB limit, every time, not a reset connection', async () => {
    const port = await listen(mount);
    const outcomes = [];
    for (let i = 0; i < 15; i++) outcomes.push(await upload(port, 11 * MiB));
    expect(outcomes).toEqual(Array.from({ length: 15 }, () => ({ status: 413, code: 'entity.too.large' })));
  });

  it('answers 413 the same way when the body turns out too large while it is being read (no Content-Length)', async () => {
    const port = await listen(mount, { limit: '1mb' });
    const outcomes = [];
    for (let i = 0; i < 10; i++) outcomes.push(await upload(port, 1.5 * MiB, { chunked: true }));
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => ({ status: 413, code: 'entity.too.large' })));
  });

  it('answers 405 and 415 to a sender still uploading a large body', async () => {
    const port = await listen(mount);
    for (let i = 0; i < 5; i++) {
      expect(await upload(port, 4 * MiB, { method: 'PUT' })).toEqual({ status: 405, code: 'method.not.allowed' });
      expect(await upload(port, 4 * MiB, { contentType: 'text/csv' })).toEqual({ status: 415, code: 'content-type.unsupported' });
    }
  });

  it('closes the connection of a client that sends far past the discard bound, without reading it all', async () => {
    const port = await listen(mount, { limit: '64kb' });
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.write('POST /hook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.concat([Buffer.from(`${(64 * 1024).toString(16)}\r\n`), Buffer.alloc(64 * 1024, 0x20), Buffer.from('\r\n')]);
    let sent = 0;
    let open = true;
    void closed.then(() => (open = false));
    // Far past the bound (twice the limit): the receiver must close, not read on. Stop at 256 MiB.
    while (open && sent < 256 * MiB) {
      sent += chunk.length;
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
    }
    await closed;
    expect(sent).toBeLessThan(256 * MiB);
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('answers 408 body.timeout to a client that trickles its body, and closes the connection', async () => {
    const port = await listen(mount, { bodyTimeoutMs: 200 });
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    // 100 bytes announced, 8 sent, then a byte every 20 ms, never all of them: the answer is awaited.
    socket.write('POST /hook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"type":');
    let trickled = 0;
    const trickle = setInterval(() => {
      if (++trickled > 80) clearInterval(trickle);
      else socket.write(' ');
    }, 20);
    await closed;
    clearInterval(trickle);
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(response).toMatch(/connection: close/i);
    expect(response).toContain('"code":"body.timeout"');
  });
});

describe('bodyTimeoutMs', () => {
  it('must be a positive integer', () => {
    expect(() => createReceiver({ provider: testProvider(), bodyTimeoutMs: 0 })).toThrow(new TypeError('Expected `bodyTimeoutMs` to be a positive integer, got 0'));
  });
});
