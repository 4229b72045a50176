import type { MockServer } from '../../src/testing/index.ts';

const waiting = new WeakMap<unknown[], { n: number; resolve: () => void }[]>();

/**
 * Resolves once `mock` has received `n` requests in all. A mock records each request before it
 * answers it; this watches that record, so a test goes on at that moment rather than polling
 * `mock.requests.length` on a timer.
 */
export function receivedRequests(mock: Pick<MockServer, 'requests'>, n: number): Promise<void> {
  const { requests } = mock;
  if (requests.length >= n) return Promise.resolve();
  let waiters = waiting.get(requests);
  if (waiters === undefined) {
    const list: { n: number; resolve: () => void }[] = (waiters = []);
    waiting.set(requests, list);
    const push = requests.push.bind(requests);
    requests.push = (...items) => {
      const length = push(...items);
      for (const waiter of list.filter((w) => length >= w.n)) {
        list.splice(list.indexOf(waiter), 1);
        waiter.resolve();
      }
      return length;
    };
  }
  const list = waiters;
  return new Promise((resolve) => list.push({ n, resolve }));
}
