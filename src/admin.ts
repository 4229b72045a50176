import type { DeadLetter } from './types.ts';

/*
 * The seam between the CLI and a durable backend. The CLI reaches SQLite, BullMQ and PostgreSQL
 * alike through an AdminBackend, opened for one receiver (`--receiver`) or for every receiver it
 * finds; each backend keeps its own queries beside its code (src/store/sqlite/admin.ts,
 * src/queue/bullmq/admin.ts, src/queue/postgres/admin.ts).
 */

/** A dead letter as the CLI lists it: with the receiver it belongs to. */
export type ReceiverDeadLetter = DeadLetter & { readonly receiver: string };

/** An import as `scrapehook imports` lists it: the delivery, and its checkpoint (importRows' JSON). */
export interface ImportListing {
  readonly receiver: string;
  /** The delivery's id. */
  readonly id: string;
  /** The delivery's state: `queued`, `running`, `succeeded`, `dead`. */
  readonly state: string;
  /** The checkpoint, as importRows writes it (JSON). */
  readonly checkpoint: string;
}

/** What an operator's tool (the CLI) does with a backend, for one receiver or every receiver. */
export interface AdminBackend {
  /** Where it points, for messages: a path, or a URL with its password redacted. */
  readonly where: string;
  /** Who runs a replayed delivery, for the CLI's message (`a running receiver on this file picks them up`). */
  readonly pickup: string;
  /** The dead letters, oldest first, their bodies (when kept as received) decoded as their payload. */
  deadLetters(): Promise<ReceiverDeadLetter[]>;
  /**
   * Queues dead letters again, where a running receiver runs each once more. `ids` undefined means
   * all of them. Answers the ids re-queued.
   */
  replay(ids: readonly string[] | undefined): Promise<string[]>;
  /** Deliveries per state (and what else the backend counts: dedupe ids, workers), summed over the receivers. */
  stats(): Promise<Record<string, number>>;
  /** The checkpoints of importRows handlers the backend keeps. */
  imports(): Promise<ImportListing[]>;
  close(): Promise<void>;
}
