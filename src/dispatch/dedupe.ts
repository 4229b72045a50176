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
 * A bounded set of ids with a time to live, kept in typed arrays: no JavaScript object per id.
 *
 * Each claim is a slot, in claim order, from `#head` to `#tail`: its id's characters (UTF-16 code
 * units, in `#chars`), its hash and its expiry. An open-addressing table (linear probing, at most
 * half full) maps hashes to live slots. Expired ids are dropped once they reach the head, or on
 * their next claim; beyond `max` live ids the oldest claim goes. A slot whose id was released or
 * claimed again is dead, skipped at the head. When the slots or characters run out, the live ones
 * are moved to the front (and the arrays doubled when they stay over half full): O(1) amortized.
 *
 * Why not a `Map<string, number>`: a memory of 100 000 ids kept that many strings and heap numbers
 * alive in the old generation, which every major GC marked, and each claim promoted one more
 * string. Here the ids' bytes live outside the JavaScript heap and the requests' id strings die
 * young: under load, 0.3 KB fewer bytes per request outlived a minor GC (bench/profile.mjs --heap
 * --survivors) and the process kept 17 MB less, for claims that cost the same.
 */
export class DedupeMemory {
  readonly #ttlMs: number;
  readonly #max: number;
  /** Mixed into every hash, so that which ids collide differs between processes. */
  readonly #seed = (Math.random() * 0x1_0000_0000) >>> 0;
  // Per slot.
  #start = new Int32Array(0);
  #length = new Int32Array(0);
  #hash = new Int32Array(0);
  #expires = new Float64Array(0);
  #live = new Uint8Array(0);
  /** The ids' characters, slot after slot. */
  #chars = new Uint16Array(0);
  #charsEnd = 0;
  #head = 0;
  #tail = 0;
  #size = 0;
  /** Slot + 1 per cell, 0 for an empty cell; a power of two at least twice the live slots. */
  #table = new Int32Array(0);

  constructor(ttlMs: number, max: number) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }

  /**
   * Claims `id`: `true` when it was not claimed within its TTL (and claims it now, for `ttlMs`,
   * by default the TTL given at construction).
   */
  claim(id: string, now = Date.now(), ttlMs = this.#ttlMs): boolean {
    const hash = this.#hashOf(id);
    const slot = this.#find(id, hash);
    if (slot !== -1) {
      if (this.#expires[slot]! > now) return false;
      this.#drop(slot);
    }
    this.#remember(id, hash, now + ttlMs, now);
    return true;
  }

  /** Remembers an id claimed earlier (read back from a durable store) until `expiresAt`. */
  restore(id: string, expiresAt: number, now = Date.now()): void {
    const hash = this.#hashOf(id);
    const slot = this.#find(id, hash);
    if (slot !== -1) this.#drop(slot);
    this.#remember(id, hash, expiresAt, now);
  }

  /** Forgets `id`, so that the next delivery with it is processed. */
  release(id: string): void {
    const slot = this.#find(id, this.#hashOf(id));
    if (slot !== -1) this.#drop(slot);
  }

  /** Ids remembered, counting those expired but not yet dropped. */
  get size(): number {
    return this.#size;
  }

  /** FNV-1a over the UTF-16 code units, then murmur3's finalizer so that the low bits mix well. */
  #hashOf(id: string): number {
    let h = 0x811c9dc5 ^ this.#seed;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  /** The live slot holding `id`, or -1. */
  #find(id: string, hash: number): number {
    const table = this.#table;
    if (table.length === 0) return -1;
    const mask = table.length - 1;
    for (let cell = hash & mask; ; cell = (cell + 1) & mask) {
      const entry = table[cell]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.#hash[slot] === hash && this.#holds(slot, id)) return slot;
    }
  }

  #holds(slot: number, id: string): boolean {
    const length = this.#length[slot]!;
    if (length !== id.length) return false;
    const chars = this.#chars;
    const start = this.#start[slot]!;
    for (let i = 0; i < length; i++) if (chars[start + i] !== id.charCodeAt(i)) return false;
    return true;
  }

  #remember(id: string, hash: number, expiresAt: number, now: number): void {
    if (this.#tail === this.#expires.length || this.#charsEnd + id.length > this.#chars.length) this.#makeRoom(id.length);
    const slot = this.#tail++;
    const start = this.#charsEnd;
    const chars = this.#chars;
    for (let i = 0; i < id.length; i++) chars[start + i] = id.charCodeAt(i);
    this.#charsEnd = start + id.length;
    this.#start[slot] = start;
    this.#length[slot] = id.length;
    this.#hash[slot] = hash;
    this.#expires[slot] = expiresAt;
    this.#live[slot] = 1;
    this.#size++;
    this.#place(slot);
    this.#evict(now);
  }

  /** Puts a live slot in the table. */
  #place(slot: number): void {
    const table = this.#table;
    const mask = table.length - 1;
    let cell = this.#hash[slot]! & mask;
    while (table[cell] !== 0) cell = (cell + 1) & mask;
    table[cell] = slot + 1;
  }

  /** Drops a live slot: out of the table (shifting back the cells after it), dead in the queue. */
  #drop(slot: number): void {
    this.#live[slot] = 0;
    this.#size--;
    const table = this.#table;
    const mask = table.length - 1;
    let cell = this.#hash[slot]! & mask;
    while (table[cell] !== slot + 1) cell = (cell + 1) & mask;
    // Backward-shift deletion: each later cell of the probe run moves into the hole when the hole
    // lies between its home cell and where it sits (cyclically), so every lookup still finds it.
    let hole = cell;
    for (let next = (hole + 1) & mask; table[next] !== 0; next = (next + 1) & mask) {
      const home = this.#hash[table[next]! - 1]! & mask;
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        table[hole] = table[next]!;
        hole = next;
      }
    }
    table[hole] = 0;
  }

  #evict(now: number): void {
    let head = this.#head;
    while (head < this.#tail) {
      if (this.#live[head] === 1) {
        // The common claim stops here: nothing expired at the head and room left.
        if (this.#expires[head]! > now && this.#size <= this.#max) break;
        this.#drop(head);
      }
      head++;
    }
    this.#head = head;
  }

  /**
   * Room for one more slot of `length` characters: the live slots moved to the front, in order,
   * into arrays doubled while the live ones fill more than half of them; the table rebuilt.
   */
  #makeRoom(length: number): void {
    let slots = Math.max(this.#expires.length, 16);
    while (this.#size + 1 > slots / 2) slots *= 2;
    let liveChars = length;
    for (let slot = this.#head; slot < this.#tail; slot++) if (this.#live[slot] === 1) liveChars += this.#length[slot]!;
    let chars = Math.max(this.#chars.length, 256);
    while (liveChars > chars / 2) chars *= 2;

    const start = new Int32Array(slots);
    const lengths = new Int32Array(slots);
    const hashes = new Int32Array(slots);
    const expires = new Float64Array(slots);
    const live = new Uint8Array(slots);
    const text = new Uint16Array(chars);
    let tail = 0;
    let end = 0;
    for (let slot = this.#head; slot < this.#tail; slot++) {
      if (this.#live[slot] !== 1) continue;
      const from = this.#start[slot]!;
      const n = this.#length[slot]!;
      text.set(this.#chars.subarray(from, from + n), end);
      start[tail] = end;
      lengths[tail] = n;
      hashes[tail] = this.#hash[slot]!;
      expires[tail] = this.#expires[slot]!;
      live[tail] = 1;
      end += n;
      tail++;
    }
    this.#start = start;
    this.#length = lengths;
    this.#hash = hashes;
    this.#expires = expires;
    this.#live = live;
    this.#chars = text;
    this.#charsEnd = end;
    this.#head = 0;
    this.#tail = tail;
    // At most half full with every slot live: `slots` cells would do; twice that keeps probes short.
    this.#table = new Int32Array(2 * slots);
    for (let slot = 0; slot < tail; slot++) this.#place(slot);
  }
}
