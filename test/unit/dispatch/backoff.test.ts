import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/dispatch/backoff.ts';

describe('backoffDelay()', () => {
  it('doubles from minDelayMs up to maxDelayMs, with jitter in the upper half', () => {
    expect(backoffDelay(1, 100, 10_000, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(4, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(20, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(20, 100, 10_000, () => 0)).toBe(5000);
  });
});
