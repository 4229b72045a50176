import type { AdminBackend } from '../../admin.ts';
import { decodedOrUndefined } from '../../body/decode-body.ts';
import type { DeadLetter } from '../../types.ts';
import type { StoredDeadLetter } from '../types.ts';
import { countStates, openDatabase, requeueDeadLetters, selectDeadLetters, selectImports, toDeadLetter } from './database.ts';

/**
 * The CLI's view of a sqliteStore() file: opened as it exists (never created), one receiver's
 * deliveries or every receiver's.
 * @throws {Error} naming the file when it is missing or not a scrapehook database.
 */
export function openSqliteAdmin(path: string, receiver: string | undefined): AdminBackend {
  let db: ReturnType<typeof openDatabase>;
  try {
    db = openDatabase(path, { mustExist: true, busyTimeoutMs: 5000, synchronous: 'full' });
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.includes(path) ? message : `${path}: ${message}`, { cause: error });
  }
  return {
    where: path,
    pickup: 'a running receiver on this file picks them up',
    deadLetters: async () => selectDeadLetters(db, receiver).map((row) => ({ receiver: row.receiver, ...withDecodedBody(toDeadLetter(row)) })),
    replay: async (ids) => requeueDeadLetters(db, ids, receiver),
    stats: async () => ({ ...countStates(db, receiver) }),
    imports: async () => selectImports(db, receiver).map((row) => ({ receiver: row.receiver, id: row.id, state: row.state, checkpoint: row.value })),
    close: async () => void db.close(),
  };
}

/** A dead letter whose body was kept as received, shown with that body decoded as its payload. */
function withDecodedBody({ body, ...letter }: StoredDeadLetter): DeadLetter {
  return body ? { ...letter, event: { ...letter.event, payload: decodedOrUndefined(body) } } : letter;
}
