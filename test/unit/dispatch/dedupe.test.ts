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
