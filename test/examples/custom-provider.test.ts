import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createAcmeReceiver } from '../../examples/custom-provider.ts';
import { sendDelivery, signHmac, type TestDelivery } from '../../src/testing/index.ts';

const SECRET = 'acme-secret';
let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
});

/** A delivery as Acme sends it: `sha256=<hex>` HMAC of the exact bytes. */
function acmeDelivery(body: object, secret = SECRET): TestDelivery {
  const bytes = Buffer.from(JSON.stringify(body));
  return { method: 'POST', path: '/webhooks/acme', headers: { 'content-type': 'application/json', 'x-acme-signature': signHmac(bytes, secret) }, body: bytes };
}

describe('examples/custom-provider.ts (the defineProvider example in the README)', () => {
  it('responds 202 and runs the typed handler once, 200 to a retry, 401 to a wrong signature', async () => {
    const saved: [string, number][] = [];
    const hooks = createAcmeReceiver(SECRET, async (jobId, rows) => void saved.push([jobId, rows]));
    close = () => hooks.close();
    const app = express().post('/webhooks/acme', hooks.middleware());
    const delivery = acmeDelivery({ event: 'job.finished', jobId: 'j1', deliveryId: 'd1', rows: 42, resultUrl: 'https://acme.example/j1.json' });
    expect((await sendDelivery(app, delivery)).status).toBe(202);
    expect((await sendDelivery(app, delivery)).status).toBe(200);
    expect((await sendDelivery(app, acmeDelivery({ event: 'job.failed', jobId: 'j2', deliveryId: 'd2', reason: 'x' }, 'wrong'))).status).toBe(401);
    await hooks.onIdle();
    expect(saved).toEqual([['j1', 42]]);
  });
});
