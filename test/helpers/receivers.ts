import { afterEach } from 'vitest';
import type { AnyProvider, Receiver } from '../../src/index.ts';

/**
 * Closes, after each test of the file, every receiver handed to the function it answers, which
 * answers the receiver it was given.
 */
export function closeAfterEach(): <P extends AnyProvider>(hooks: Receiver<P>) => Receiver<P> {
  const receivers: Receiver<AnyProvider>[] = [];
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close({ timeoutMs: 1000 })));
  });
  return (hooks) => {
    receivers.push(hooks as unknown as Receiver<AnyProvider>);
    return hooks;
  };
}
