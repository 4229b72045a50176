import { describe, expect, it } from 'vitest';
import { DedupeMemory } from '../../../src/dispatch/dedupe.ts';

describe('DedupeMemory', () => {
  it('claims an id once within its TTL and again after it expired', () => {
    const memory = new DedupeMemory(1000, 10);
    expect(memory.claim('a', 0)).toBe(true);
    expect(memory.claim('a', 999)).toBe(false);
    expect(memory.claim('a', 1000)).toBe(true);
  });

  it('takes a TTL per claim, and restores ids claimed earlier until their expiry', () => {
    const memory = new DedupeMemory(60_000, 10);
    expect(memory.claim('short', 0, 100)).toBe(true);
    expect(memory.claim('short', 99)).toBe(false);
    expect(memory.claim('short', 100)).toBe(true);
    memory.restore('stored', 500, 0);
    expect(memory.claim('stored', 499)).toBe(false);
    expect(memory.claim('stored', 500)).toBe(true);
  });

  it('forgets the oldest ids beyond max, and released ids', () => {
    const memory = new DedupeMemory(60_000, 2);
    memory.claim('a', 0);
    memory.claim('b', 1);
    memory.claim('c', 2);
    expect(memory.size).toBe(2);
    expect(memory.claim('a', 3)).toBe(true);
    expect(memory.claim('c', 3)).toBe(false);
    memory.release('c');
    expect(memory.claim('c', 4)).toBe(true);
  });

  it('evicts by the latest claim of an id: one released and claimed again keeps its new place', () => {
    const memory = new DedupeMemory(100, 3);
    memory.claim('a', 0); // a until 100
    memory.claim('b', 1); // b until 101
    memory.release('a');
    memory.claim('a', 50); // a until 150; its first place in the queue is stale
    memory.claim('x', 120); // b expired and is dropped; a is not, whatever its first place said
    expect(memory.claim('a', 121)).toBe(false);
    expect(memory.claim('b', 121)).toBe(true);
    expect(memory.size).toBe(3);
    memory.claim('c', 122); // over max: a, the oldest live claim, goes first
    expect(memory.size).toBe(3);
    expect(memory.claim('x', 123)).toBe(false);
    expect(memory.claim('a', 123)).toBe(true);
  });

  it('stays correct over many more claims than max (the queue is compacted)', () => {
    const memory = new DedupeMemory(1_000_000, 1000);
    for (let i = 0; i < 10_000; i++) expect(memory.claim(`id-${i}`, i)).toBe(true);
    expect(memory.size).toBe(1000);
    expect(memory.claim('id-9000', 10_000)).toBe(false);
    expect(memory.claim('id-8999', 10_000)).toBe(true);
  });
});

/**
 * The same policy as DedupeMemory, written the slow and obvious way (a list of claims, scanned):
 * the reference the typed-array memory (hash table, character store, compaction) must agree with.
 */
class ListMemory {
  readonly #claims: { id: string; expires: number; live: boolean }[] = [];
  #head = 0;
  size = 0;
  constructor(readonly max: number) {}
  claim(id: string, now: number, ttlMs: number): boolean {
    const found = this.#find(id);
    if (found && found.expires > now) return false;
    this.#remember(id, now + ttlMs, now, found);
    return true;
  }
  restore(id: string, expiresAt: number, now: number): void {
    this.#remember(id, expiresAt, now, this.#find(id));
  }
  release(id: string): void {
    const found = this.#find(id);
    if (found) this.#kill(found);
  }
  #find(id: string) {
    return this.#claims.find((c, i) => i >= this.#head && c.live && c.id === id);
  }
  #kill(claim: { live: boolean }) {
    claim.live = false;
    this.size--;
  }
  #remember(id: string, expires: number, now: number, previous: { live: boolean } | undefined) {
    if (previous) this.#kill(previous);
    this.#claims.push({ id, expires, live: true });
    this.size++;
    while (this.#head < this.#claims.length) {
      const claim = this.#claims[this.#head]!;
      if (claim.live) {
        if (claim.expires > now && this.size <= this.max) break;
        this.#kill(claim);
      }
      this.#head++;
    }
  }
}

describe('DedupeMemory against a plain list of claims', () => {
  // A small deterministic generator (mulberry32), so that a failure replays.
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Ids of every length from empty to long, ASCII and not, some prefixes of others.
  const ids = Array.from({ length: 60 }, (_, i) => (i % 7 === 0 ? 'é漢' : 'id-') + 'x'.repeat(i % 13) + (i % 5 === 0 ? '' : String(i)));

  for (const [max, seed] of [[1, 1], [3, 2], [8, 3], [40, 4], [200, 5]] as const) {
    it(`agrees on every claim, restore and release (max ${max})`, () => {
      const next = random(seed);
      const memory = new DedupeMemory(1000, max);
      const list = new ListMemory(max);
      let now = 0;
      for (let step = 0; step < 20_000; step++) {
        now += Math.floor(next() * 20);
        const id = ids[Math.floor(next() * ids.length)]!;
        const op = next();
        if (op < 0.8) {
          const ttl = 1 + Math.floor(next() * 2000);
          expect(memory.claim(id, now, ttl), `step ${step}: claim ${id}`).toBe(list.claim(id, now, ttl));
        } else if (op < 0.9) {
          const expiresAt = now + Math.floor(next() * 2000) - 500;
          memory.restore(id, expiresAt, now);
          list.restore(id, expiresAt, now);
        } else {
          memory.release(id);
          list.release(id);
        }
        expect(memory.size, `step ${step}: size`).toBe(list.size);
      }
    });
  }

  it('keeps 100 000 distinct ids apart, and forgets the oldest beyond them', () => {
    const memory = new DedupeMemory(60_000, 100_000);
    for (let i = 0; i < 150_000; i++) expect(memory.claim(`a5f0c1de-${i}-4b1e-9f0a`, 0)).toBe(true);
    expect(memory.size).toBe(100_000);
    for (let i = 50_000; i < 150_000; i += 997) expect(memory.claim(`a5f0c1de-${i}-4b1e-9f0a`, 1)).toBe(false);
    for (let i = 0; i < 50_000; i += 997) expect(memory.claim(`a5f0c1de-${i}-4b1e-9f0a`, 1)).toBe(true);
  });
});
