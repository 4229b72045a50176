/** Options of the in-memory dedupe memory. */
export interface DedupeOptions {
  /**
   * How long an id is remembered. Some senders retry for over a day (Apify for about 32 hours).
   * @default 172_800_000 (48 hours)
   */
  ttlMs?: number;
  /**
   * How many ids are remembered at most; the least recently claimed is forgotten first.
   * @default 100_000
   */
  max?: number;
}

export const DEFAULT_DEDUPE_TTL_MS = 48 * 60 * 60 * 1000;
export const DEFAULT_DEDUPE_MAX = 100_000;

/**
 * A bounded set of ids with a time to live: a `Map` kept in claim order, so the oldest entry is
 * the first key and both expiry and eviction are O(1) per claim.
 */
export class DedupeMemory {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #expires = new Map<string, number>();

  constructor(ttlMs: number, max: number) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /**
   * Claims `id`: `true` when it was not claimed within its TTL (and claims it now, for `ttlMs`,
   * by default the TTL given at construction).
   */
  claim(id: string, now = Date.now(), ttlMs = this.#ttlMs): boolean {
    const expires = this.#expires.get(id);
    if (expires !== undefined) {
      if (expires > now) return false;
      this.#expires.delete(id);
    }
    this.#expires.set(id, now + ttlMs);
    this.#evict(now);
    return true;
  }

  /** Remembers an id claimed earlier (read back from a durable store) until `expiresAt`. */
  restore(id: string, expiresAt: number, now = Date.now()): void {
    this.#expires.delete(id);
    this.#expires.set(id, expiresAt);
    this.#evict(now);
  }

  /** Forgets `id`, so that the next delivery with it is processed. */
  release(id: string): void {
    this.#expires.delete(id);
  }

  get size(): number {
    return this.#expires.size;
  }

  #evict(now: number): void {
    // Expired ids are dropped lazily (on their next claim, or here once the memory is full), so
    // the common claim pays no iteration.
    if (this.#expires.size <= this.#max) return;
    for (const [id, expires] of this.#expires) {
      if (this.#expires.size <= this.#max && expires > now) break;
      this.#expires.delete(id);
    }
  }
}
