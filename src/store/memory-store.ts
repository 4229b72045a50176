import { DEFAULT_DEDUPE_MAX, DedupeMemory } from '../dispatch/dedupe.ts';
import { MemoryImportState } from '../import/memory-state.ts';
import type { DeadLetter, Delivery } from '../types.ts';
import type { DeliveryUpdate, Store, StoredDelivery } from './types.ts';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * How many dedupe ids are remembered at most.
   * @default 100_000
   */
  maxIds?: number;
  /**
   * How many dead letters are kept at most; the oldest is dropped (and logged) beyond.
   * @default 1000
   */
  maxDeadLetters?: number;
}

/**
 * The default store: everything in this process's memory. Deliveries in flight are lost when the
 * process dies; use a durable store where an acknowledged delivery must never be lost.
 */
export function memoryStore(options: MemoryStoreOptions = {}): Store {
  const names = new Set<string>();
  const store = memoryScope(options);
  const forReceiver = (name: string): Store => {
    if (names.has(name)) throw new TypeError(`Expected one receiver per name on a store, got a second receiver named ${JSON.stringify(name)}: give each receiver its own \`name\``);
    names.add(name);
    // Each receiver's deliveries, dead letters and dedupe ids apart (ids of two providers may collide).
    const scope = memoryScope(options);
    const close = scope.close.bind(scope);
    scope.close = () => {
      names.delete(name);
      close();
    };
    return scope;
  };
  // Not enumerable: a store spread into a wrapper ({ ...memoryStore(), close }) serves one receiver
  // through the wrapper's methods, rather than handing views that would bypass them.
  Object.defineProperty(store, 'forReceiver', { value: forReceiver, enumerable: false });
  return store;
}

function memoryScope(options: MemoryStoreOptions): Store {
  const maxDeadLetters = options.maxDeadLetters ?? 1000;
  let dedupe: DedupeMemory | undefined;
  const dead = new Map<string, DeadLetter>();
  const inFlight = new Map<string, Delivery>();
  const state = new MemoryImportState();

  return {
    accept(delivery: Delivery, dedupeTtlMs: number): boolean {
      if (dedupeTtlMs > 0) {
        dedupe ??= new DedupeMemory(dedupeTtlMs, options.maxIds ?? DEFAULT_DEDUPE_MAX);
        if (!dedupe.claim(delivery.id)) return false;
      }
      inFlight.set(delivery.id, delivery);
      return true;
    },
    update(id: string, update: DeliveryUpdate): void {
      if (update.state === 'dead') {
        const delivery = inFlight.get(id) ?? dead.get(id)?.event;
        inFlight.delete(id);
        if (!delivery) return;
        dead.delete(id);
        dead.set(id, {
          id,
          event: { ...toDelivery(delivery), attempt: update.attempts },
          error: update.error ?? { type: 'handler.failed', message: 'unknown error' },
          attempts: update.attempts,
        });
        if (dead.size > maxDeadLetters) {
          const oldest = dead.keys().next().value as string;
          dead.delete(oldest);
          state.forget(oldest);
        }
      } else if (update.state === 'succeeded') {
        inFlight.delete(id);
        dead.delete(id);
        // Its import state goes with it, as a durable store's does.
        state.forget(id);
      }
    },
    unfinished(): StoredDelivery[] {
      return [];
    },
    deadLetters(): DeadLetter[] {
      return [...dead.values()];
    },
    deadCount(): number {
      return dead.size;
    },
    importState: (id: string) => state.forDelivery(id),
    close(): void {
      inFlight.clear();
      state.clear();
    },
  };
}

function toDelivery(d: Delivery): Delivery {
  return { id: d.id, type: d.type, provider: d.provider, payload: d.payload, receivedAt: d.receivedAt };
}
