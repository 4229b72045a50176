import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../../../src/store/memory-store.ts';
import type { Store, StoredDeadLetter } from '../../../src/store/types.ts';
import type { Delivery } from '../../../src/types.ts';

const TTL = 60_000;

let n = 0;
function delivery(overrides: Partial<Delivery> = {}): Delivery {
  n++;
  return { id: `wh-${n}`, type: 'crawl.page', provider: 'test', payload: { n }, receivedAt: new Date(1_700_000_000_000 + n), ...overrides };
}

/** Accepts `d`: the memory store answers synchronously, which the receiver relies on to skip an await. */
function accept(store: Store, d: Delivery, ttlMs = TTL): boolean {
  const result = store.accept(d, ttlMs);
  expect(typeof result).toBe('boolean');
  return result as boolean;
}

/** The dead letters, answered synchronously by the memory store. */
const deadLetters = (store: Store) => store.deadLetters() as readonly StoredDeadLetter[];

afterEach(() => {
  vi.useRealTimers();
});

describe('memoryStore(): .accept()', () => {
  it('accepts a delivery once, and answers false for the same id within the TTL', () => {
    const store = memoryStore();
    const d = delivery();
    expect(accept(store, d)).toBe(true);
    expect(accept(store, { ...d, payload: { other: true } })).toBe(false);
    expect(accept(store, delivery())).toBe(true);
  });

  it('accepts the id again once its TTL has passed', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const store = memoryStore();
    const d = delivery();
    expect(accept(store, d, 1000)).toBe(true);
    vi.setSystemTime(Date.now() + 999);
    expect(accept(store, d, 1000)).toBe(false);
    vi.setSystemTime(Date.now() + 1);
    expect(accept(store, d, 1000)).toBe(true);
  });

  it('with dedupe off (TTL 0) accepts the same id every time', () => {
    const store = memoryStore();
    const d = delivery();
    expect(accept(store, d, 0)).toBe(true);
    expect(accept(store, d, 0)).toBe(true);
  });

  it('remembers at most maxIds ids: the oldest is forgotten first', () => {
    const store = memoryStore({ maxIds: 2 });
    const [a, b, c] = [delivery(), delivery(), delivery()];
    for (const d of [a, b, c]) expect(accept(store, d)).toBe(true);
    expect(accept(store, c)).toBe(false);
    expect(accept(store, b)).toBe(false);
    expect(accept(store, a)).toBe(true);
  });
});

describe('memoryStore(): .update() / .unfinished() / .deadLetters()', () => {
  it('keeps nothing unfinished: deliveries in flight do not outlive the process', () => {
    const store = memoryStore();
    const d = delivery();
    accept(store, d);
    store.update(d.id, { state: 'running', attempts: 1 });
    expect(store.unfinished()).toEqual([]);
  });

  it('makes a dead letter of a delivery with its last error and attempts, and only of a dead one', () => {
    const store = memoryStore();
    const [dead, retrying, done] = [delivery(), delivery(), delivery()];
    for (const d of [dead, retrying, done]) accept(store, d);
    const error = { type: 'handler.timeout' as const, message: 'too slow' };
    store.update(retrying.id, { state: 'queued', attempts: 1, error });
    store.update(done.id, { state: 'succeeded', attempts: 1 });
    store.update(dead.id, { state: 'running', attempts: 3 });
    expect(store.deadLetters()).toEqual([]);
    store.update(dead.id, { state: 'dead', attempts: 3, error });
    expect(store.deadLetters()).toEqual([{ id: dead.id, event: { ...dead, attempt: 3 }, error, attempts: 3 }]);
    expect(store.deadCount!()).toBe(1);
  });

  it('keeps only the delivery’s own fields in a dead letter, and a generic error when none was given', () => {
    const store = memoryStore();
    const d = delivery();
    accept(store, { ...d, extra: 'not a field of Delivery' } as Delivery);
    store.update(d.id, { state: 'dead', attempts: 1 });
    expect(deadLetters(store)[0]).toEqual({ id: d.id, event: { ...d, attempt: 1 }, error: { type: 'handler.failed', message: 'unknown error' }, attempts: 1 });
  });

  it('ignores an outcome for an id it never accepted', () => {
    const store = memoryStore();
    store.update('unknown', { state: 'dead', attempts: 1 });
    store.update('unknown', { state: 'succeeded', attempts: 1 });
    expect(store.deadLetters()).toEqual([]);
  });

  it('a replayed dead letter: failing again moves it last with its new attempts; succeeding removes it', () => {
    const store = memoryStore();
    const [a, b] = [delivery(), delivery()];
    for (const d of [a, b]) {
      accept(store, d);
      store.update(d.id, { state: 'dead', attempts: 2 });
    }
    store.update(a.id, { state: 'dead', attempts: 4, error: { type: 'handler.failed', message: 'again' } });
    expect(deadLetters(store).map((l) => [l.id, l.attempts, l.event.attempt, l.error.message])).toEqual([
      [b.id, 2, 2, 'unknown error'],
      [a.id, 4, 4, 'again'],
    ]);
    store.update(b.id, { state: 'succeeded', attempts: 3 });
    expect(deadLetters(store).map((l) => l.id)).toEqual([a.id]);
    expect(store.deadCount!()).toBe(1);
  });

  it('keeps at most maxDeadLetters, dropping the oldest and its import state', async () => {
    const store = memoryStore({ maxDeadLetters: 2 });
    const [a, b, c] = [delivery(), delivery(), delivery()];
    for (const d of [a, b, c]) accept(store, d);
    await store.importState!(a.id).set('checkpoint', 'a', TTL);
    await store.importState!(b.id).set('checkpoint', 'b', TTL);
    for (const d of [a, b, c]) store.update(d.id, { state: 'dead', attempts: 1 });
    expect(deadLetters(store).map((l) => l.id)).toEqual([b.id, c.id]);
    expect(store.deadCount!()).toBe(2);
    await expect(store.importState!(a.id).get('checkpoint')).resolves.toBeUndefined();
    await expect(store.importState!(b.id).get('checkpoint')).resolves.toBe('b');
  });

  it('forgets deliveries in flight at close(): they cannot become dead letters afterwards', () => {
    const store = memoryStore();
    const d = delivery();
    accept(store, d);
    store.close();
    store.update(d.id, { state: 'dead', attempts: 1 });
    expect(store.deadLetters()).toEqual([]);
  });
});

describe('memoryStore(): .importState()', () => {
  it('keeps values per delivery until it succeeds, and sets shared by the receiver’s deliveries', async () => {
    const store = memoryStore();
    const [a, b] = [delivery(), delivery()];
    for (const d of [a, b]) accept(store, d);
    const stateA = store.importState!(a.id);
    await stateA.set('rows', '10', TTL);
    await stateA.addToSet('seen', ['x', 'y'], TTL);
    await expect(store.importState!(a.id).get('rows')).resolves.toBe('10');
    await expect(store.importState!(b.id).get('rows')).resolves.toBeUndefined();
    await expect(store.importState!(b.id).members('seen')).resolves.toEqual(['x', 'y']);
    store.update(a.id, { state: 'succeeded', attempts: 1 });
    await expect(store.importState!(a.id).get('rows')).resolves.toBeUndefined();
    await expect(store.importState!(b.id).members('seen')).resolves.toEqual(['x', 'y']);
  });

  it('drops values at their TTL', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const store = memoryStore();
    const state = store.importState!('wh-ttl');
    await state.set('rows', '1', 1000);
    await state.addToSet('seen', ['x'], 1000);
    vi.setSystemTime(Date.now() + 999);
    await expect(state.get('rows')).resolves.toBe('1');
    vi.setSystemTime(Date.now() + 1);
    await expect(state.get('rows')).resolves.toBeUndefined();
    await expect(state.members('seen')).resolves.toEqual([]);
  });

  it('keeps a dead letter’s values, for its replay to resume from', async () => {
    const store = memoryStore();
    const d = delivery();
    accept(store, d);
    await store.importState!(d.id).set('rows', '5', TTL);
    store.update(d.id, { state: 'dead', attempts: 3 });
    await expect(store.importState!(d.id).get('rows')).resolves.toBe('5');
  });
});

describe('memoryStore(): .forReceiver()', () => {
  it('gives each receiver its own dedupe ids, dead letters and import state', async () => {
    const store = memoryStore();
    const a = store.forReceiver!('a');
    const b = store.forReceiver!('b');
    const d = delivery();
    expect(accept(a, d)).toBe(true);
    expect(accept(b, d)).toBe(true); // two providers' ids may collide
    expect(accept(store, d)).toBe(true);
    a.update(d.id, { state: 'dead', attempts: 1 });
    expect(deadLetters(a).map((l) => l.id)).toEqual([d.id]);
    expect(b.deadLetters()).toEqual([]);
    expect(store.deadLetters()).toEqual([]);
    await a.importState!(d.id).set('rows', '1', TTL);
    await expect(b.importState!(d.id).get('rows')).resolves.toBeUndefined();
  });

  it('refuses a second receiver of the same name until the first view is closed', () => {
    const store = memoryStore();
    const first = store.forReceiver!('firecrawl');
    expect(() => store.forReceiver!('firecrawl')).toThrow(TypeError);
    expect(() => store.forReceiver!('firecrawl')).toThrow(/second receiver named "firecrawl".*own `name`/);
    first.close();
    expect(() => store.forReceiver!('firecrawl')).not.toThrow();
  });

  it('is not carried along when the store is spread into a wrapper', () => {
    const store = memoryStore();
    expect(typeof store.forReceiver).toBe('function');
    expect({ ...store }).not.toHaveProperty('forReceiver');
  });
});
