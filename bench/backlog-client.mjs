// The load of bench/backlog.mjs, in a worker thread (its heap is not the receiver's): on each
// message { from, to }, sends bodies number from..to-1 over 32 keep-alive connections, then answers
// {} (or { error } at the first answer that is not 202).

import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { HOOK_PATH, SIGNATURE_HEADER, makeBody } from './payloads.mjs';

const { port, payload } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function one(i) {
  const { body, signature } = makeBody(payload, i);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: HOOK_PATH, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, [SIGNATURE_HEADER]: signature } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`answer ${res.statusCode} to request ${i}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

parentPort.on('message', async ({ from, to }) => {
  let next = from;
  const loop = async () => {
    while (next < to) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: 32 }, loop));
    parentPort.postMessage({});
  } catch (error) {
    parentPort.postMessage({ error: String(error) });
  }
});
