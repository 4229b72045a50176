import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares two byte strings in time that depends only on their lengths. Different lengths answer
 * `false` after a comparison of the same cost, so the length check itself leaks nothing useful.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Compares two secrets of any length in constant time, by comparing their SHA-256 digests. */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
