import type { ImportState } from './types.ts';

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/**
 * Import state in this process's memory: the values of each delivery (checkpoints), dropped with
 * the delivery ({@link MemoryImportState.forget}) or at their TTL, and the receiver's sets, dropped
 * at their TTL. Used by `memoryStore()`, and by receivers whose backend keeps no import state.
 */
export class MemoryImportState {
  readonly #values = new Map<string, Map<string, Entry<string>>>();
  readonly #sets = new Map<string, Entry<Set<string>>>();
  #writes = 0;

  /** The state a handler of delivery `id` sees. */
  forDelivery(id: string): ImportState {
    const live = <T>(entry: Entry<T> | undefined): entry is Entry<T> => entry !== undefined && entry.expiresAt > Date.now();
    return {
      get: async (key) => {
        const entry = this.#values.get(id)?.get(key);
        return live(entry) ? entry.value : undefined;
      },
      set: async (key, value, ttlMs) => {
        let values = this.#values.get(id);
        if (!values) this.#values.set(id, (values = new Map()));
        values.set(key, { value, expiresAt: Date.now() + ttlMs });
        this.#sweepSometimes();
      },
      delete: async (key) => {
        const values = this.#values.get(id);
        values?.delete(key);
        if (values?.size === 0) this.#values.delete(id);
      },
      addToSet: async (key, members, ttlMs) => {
        let entry = this.#sets.get(key);
        if (!live(entry)) this.#sets.set(key, (entry = { value: new Set(), expiresAt: 0 }));
        for (const member of members) entry.value.add(member);
        entry.expiresAt = Date.now() + ttlMs;
        this.#sweepSometimes();
      },
      members: async (key) => {
        const entry = this.#sets.get(key);
        return live(entry) ? [...entry.value] : [];
      },
    };
  }

  /** Drops the values of delivery `id` (it succeeded, or its dead letter was dropped). */
  forget(id: string): void {
    this.#values.delete(id);
  }

  clear(): void {
    this.#values.clear();
    this.#sets.clear();
  }

  /** Expired entries are dropped every 1000 writes, so that memory stays bounded by the TTLs. */
  #sweepSometimes(): void {
    if (++this.#writes % 1000 !== 0) return;
    const now = Date.now();
    for (const [id, values] of this.#values) {
      for (const [key, entry] of values) if (entry.expiresAt <= now) values.delete(key);
      if (values.size === 0) this.#values.delete(id);
    }
    for (const [key, entry] of this.#sets) if (entry.expiresAt <= now) this.#sets.delete(key);
  }
}
