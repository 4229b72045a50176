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
 * A bounded set of ids with a time to live. A `Map` answers lookups; a queue of claims in claim
 * order (two parallel arrays read from `#head`) says which id to drop next, so expiry and eviction
 * are O(1) amortized per claim.
 *
 * The queue is ours rather than the Map's insertion order: iterating a Map from its start skips
 * every entry deleted since V8 last rehashed it, and with ids evicted from the front that was tens
 * of microseconds per claim once the memory was full.
 */
export class DedupeMemory {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #expires = new Map<string, number>();
  #ids: string[] = [];
  #at: number[] = [];
  #head = 0;

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
    if (expires !== undefined && expires > now) return false;
    this.#remember(id, now + ttlMs, now);
    return true;
  }

  /** Remembers an id claimed earlier (read back from a durable store) until `expiresAt`. */
  restore(id: string, expiresAt: number, now = Date.now()): void {
    this.#remember(id, expiresAt, now);
  }

  /** Forgets `id`, so that the next delivery with it is processed. */
  release(id: string): void {
    // Its place in the queue goes stale and is skipped when reached.
    this.#expires.delete(id);
  }

  get size(): number {
    return this.#expires.size;
  }

  #remember(id: string, expiresAt: number, now: number): void {
    this.#expires.set(id, expiresAt);
    this.#ids.push(id);
    this.#at.push(expiresAt);
    this.#evict(now);
  }

  #evict(now: number): void {
    const ids = this.#ids;
    const at = this.#at;
    let head = this.#head;
    // Expired ids are dropped lazily (here, once they reach the head, or on their next claim).
    while (head < ids.length) {
      const expires = at[head]!;
      // The common claim stops here: nothing expired at the head and room left.
      if (expires > now && this.#expires.size <= this.#max) break;
      const id = ids[head]!;
      // Unless the id was claimed again or released since (this place is then stale), drop it.
      if (this.#expires.get(id) === expires) this.#expires.delete(id);
      head++;
    }
    this.#head = head;
    // Drop what was read, once it is most of the queue: amortized O(1) per claim.
    if (head > 1024 && head * 2 > ids.length) {
      this.#ids = ids.slice(head);
      this.#at = at.slice(head);
      this.#head = 0;
    } else if (ids.length - head > 2 * this.#max + 1024) {
      // Stale entries behind a live head (ids released or claimed again): rebuild from the Map.
      this.#ids = [...this.#expires.keys()];
      this.#at = [...this.#expires.values()];
      this.#head = 0;
    }
  }
}
