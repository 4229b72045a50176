import { expect } from 'vitest';
import { createReceiver, type AnyProvider, type Receiver, type ReceiverOptions } from '../../src/index.ts';
import { sendRaw } from './http.ts';
import { shoutingProvider } from './shouting-provider.ts';
import { pageEvent, signed, testProvider } from './test-provider.ts';

/**
 * Two receivers (`test` and `shout`) on one backend whose handlers fail, each with a dead letter of
 * the same id `same`, and `test` with `only-test` too: for the CLI's `--receiver` rows.
 * `backend()` is called once per receiver: answer a shared store, or a new queue each time.
 */
export async function twoReceiversWithDeadLetters(backend: () => Pick<ReceiverOptions<never>, 'store' | 'queue'>) {
  const make = <P extends AnyProvider>(provider: P) => createReceiver({ provider, retry: { attempts: 1 }, ...backend() }) as unknown as Receiver<AnyProvider>;
  const receivers = [make(testProvider()), make(shoutingProvider())];
  for (const hooks of receivers) {
    hooks.onAny(() => {
      throw new Error('down');
    });
  }
  const [test, shout] = receivers as [Receiver<AnyProvider>, Receiver<AnyProvider>];
  for (const webhookId of ['same', 'only-test']) expect((await sendRaw(test.nodeHandler(), signed(pageEvent({ webhookId })))).status).toBe(202);
  expect((await sendRaw(shout.nodeHandler(), signed({ type: 'page.scraped', webhookId: 'same', markdown: 'x' }))).status).toBe(202);
  await Promise.all(receivers.map((hooks) => hooks.onIdle()));
  return { test, shout, close: () => Promise.all(receivers.map((hooks) => hooks.close())) };
}
