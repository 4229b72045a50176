import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { decodedOrUndefined } from '../body/decode-body.ts';
import type { StoredDeadLetter } from '../store/types.ts';
import type { DeadLetter } from '../types.ts';
import { normalizeConnection, redactRedisUrl } from '../queue/bullmq/connection.ts';
import { scrubMessage } from '../log.ts';
import { findReceiverQueues, openAdminQueue, type AdminQueue, type ImportListing, type ReceiverDeadLetter } from '../queue/bullmq/admin.ts';
import { defaultQueueName, type BullmqCounts } from '../queue/bullmq/jobs.ts';
import { countStates, openDatabase, requeueDeadLetters, selectDeadLetters, selectImports, toDeadLetter } from '../store/sqlite/database.ts';
import { send } from './send.ts';

/** Where the CLI writes, and what it reads from the environment (injected by tests). */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Reads all of stdin, for `send --data -`. @default process.stdin */
  stdin?: () => Promise<Buffer>;
}

/** Exit codes. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const HELP = `Usage: scrapehook <command> [options]

Inspect and replay the deliveries a receiver could not handle, in its durable backend; send
realistic deliveries to a receiver, as each provider's sender does.

Commands:
  send <provider> [<type>] Post a signed (or token-carrying) delivery to a receiver, optionally
                           with a sender's timeout and retries (--like); see \`scrapehook send --help\`
  dead-letters             List the dead letters, oldest first
  replay <id>... | --all   Queue dead letters again: a running receiver runs each once more
                           (SQLite: picked up within its pollIntervalMs; else at its next start)
  stats                    Count deliveries per state
  imports                  List the imports of importRows handlers, in progress and done (while
                           their delivery is kept), with rows, batches and bytes written

Backend (one of):
  --sqlite <path>          The file given to sqliteStore({ path })
  --redis <url>            The Redis given to bullmqQueue({ connection }), e.g. redis://host:6379/0.
                           Defaults to the environment variable SCRAPEHOOK_REDIS_URL; prefer it when
                           the URL holds a password (command lines are visible to other users).
  --queue <name>           A BullMQ queue name given to bullmqQueue({ name }) (default: the queue
                           of --receiver, else every ${defaultQueueName('<receiver>')} queue)
  --prefix <prefix>        The BullMQ key prefix (default: bull)

Options:
  --receiver <name>        Only this receiver's deliveries (createReceiver's \`name\`, by default
                           its provider's name: firecrawl, apify, ...). Default: every receiver
  --all                    replay: every dead letter
  --json                   Print JSON (dead letters with their payloads)
  -h, --help               Show this help
  -v, --version            Show the version

Exit codes: 0 done; 1 failed (backend error, or an id that is not a dead letter; send: a delivery
the sender would give up on); 2 usage error.

Examples:
  scrapehook dead-letters --sqlite ./hooks.db
  scrapehook replay wh_123 --sqlite ./hooks.db --receiver firecrawl
  SCRAPEHOOK_REDIS_URL=redis://:secret@cache:6379 scrapehook replay --all
  scrapehook stats --redis redis://localhost:6379 --receiver apify --json
  scrapehook imports --sqlite ./hooks.db --receiver webscraper
  scrapehook send webscraper --like webscraper --time-scale 0.1
`;

class UsageError extends Error {}

type Backend = { kind: 'sqlite'; path: string } | { kind: 'redis'; url: string; queue: string | undefined; prefix: string };

interface Command {
  readonly name: 'dead-letters' | 'replay' | 'stats' | 'imports';
  readonly ids: readonly string[] | undefined;
  /** `--receiver`: only this receiver's deliveries; undefined for every receiver's. */
  readonly receiver: string | undefined;
  readonly json: boolean;
  readonly backend: Backend;
}

/** Runs the CLI on `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === 'send') return send(argv.slice(1), io);
  let command: Command | 'help' | 'version';
  try {
    command = parse(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError) && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') !== true) throw error;
    io.stderr(`scrapehook: ${(error as Error).message}\nRun \`scrapehook --help\` for usage.\n`);
    return EXIT.usage;
  }
  if (command === 'help') {
    io.stdout(HELP);
    return EXIT.ok;
  }
  if (command === 'version') {
    io.stdout(`${version()}\n`);
    return EXIT.ok;
  }
  try {
    return command.backend.kind === 'sqlite' ? runSqlite(command, command.backend.path, io) : await runRedis(command, command.backend, io);
  } catch (error) {
    io.stderr(`scrapehook: ${scrubMessage(String((error as Error).message))}\n`);
    return EXIT.failed;
  }
}

function parse(argv: readonly string[], env: CliIo['env']): Command | 'help' | 'version' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      sqlite: { type: 'string' },
      redis: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      receiver: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.help) return 'help';
  if (values.version) return 'version';
  const [name, ...ids] = positionals;
  if (name === undefined) throw new UsageError('missing command (dead-letters, replay, stats, imports or send)');
  if (name === 'send') throw new UsageError('put send first: scrapehook send <provider> [<type>] [options]');
  if (name !== 'dead-letters' && name !== 'replay' && name !== 'stats' && name !== 'imports') {
    throw new UsageError(`unknown command ${JSON.stringify(name)} (expected dead-letters, replay, stats, imports or send)`);
  }
  if (name === 'replay') {
    if (values.all && ids.length > 0) throw new UsageError('replay takes ids or --all, not both');
    if (!values.all && ids.length === 0) throw new UsageError('replay needs the ids of dead letters, or --all');
  } else {
    if (ids.length > 0) throw new UsageError(`${name} takes no arguments, got ${JSON.stringify(ids[0])}`);
    if (values.all) throw new UsageError('--all is an option of replay');
  }

  const redisUrl = values.redis ?? (values.sqlite === undefined ? env.SCRAPEHOOK_REDIS_URL : undefined);
  if (values.sqlite !== undefined && values.redis !== undefined) throw new UsageError('give --sqlite or --redis, not both');
  let backend: Backend;
  if (values.sqlite !== undefined) {
    if (values.queue !== undefined || values.prefix !== undefined) throw new UsageError('--queue and --prefix go with --redis');
    backend = { kind: 'sqlite', path: values.sqlite };
  } else if (redisUrl !== undefined && redisUrl !== '') {
    if (!/^rediss?:\/\//.test(redisUrl)) throw new UsageError(`expected a redis:// or rediss:// URL, got ${redactRedisUrl(redisUrl)}`);
    const queue = values.queue ?? (values.receiver === undefined ? undefined : defaultQueueName(values.receiver));
    backend = { kind: 'redis', url: redisUrl, queue, prefix: values.prefix ?? 'bull' };
  } else {
    throw new UsageError('which backend? Give --sqlite <path> or --redis <url> (or set SCRAPEHOOK_REDIS_URL)');
  }
  if (values.receiver === '') throw new UsageError('--receiver needs a name');
  return { name, ids: values.all ? undefined : ids, receiver: values.receiver, json: values.json === true, backend };
}

/** A dead letter whose body was kept as received, shown with that body decoded as its payload. */
function withDecodedBody({ body, ...letter }: StoredDeadLetter): DeadLetter {
  return body ? { ...letter, event: { ...letter.event, payload: decodedOrUndefined(body) } } : letter;
}

/** A dead letter with its receiver first, as the CLI prints it. */
function withReceiver(receiver: string, letter: DeadLetter): ReceiverDeadLetter {
  return { receiver, ...letter };
}

function runSqlite(command: Command, path: string, io: CliIo): number {
  let db: ReturnType<typeof openDatabase>;
  try {
    db = openDatabase(path, { mustExist: true, busyTimeoutMs: 5000, synchronous: 'full' });
  } catch (error) {
    const message = (error as Error).message;
    throw new Error(message.includes(path) ? message : `${path}: ${message}`, { cause: error });
  }
  try {
    switch (command.name) {
      case 'dead-letters': {
        const rows = selectDeadLetters(db, command.receiver);
        printDeadLetters(
          rows.map((row) => withReceiver(row.receiver, withDecodedBody(toDeadLetter(row)))),
          command.json,
          io,
        );
        return EXIT.ok;
      }
      case 'replay':
        return printReplayed(command.ids, requeueDeadLetters(db, command.ids, command.receiver), command.json, io, 'a running receiver on this file picks them up');
      case 'stats':
        printStats(countStates(db, command.receiver), command.json, io);
        return EXIT.ok;
      case 'imports':
        printImports(
          selectImports(db, command.receiver).map((row) => ({ receiver: row.receiver, id: row.id, state: row.state, checkpoint: row.value })),
          command.json,
          io,
        );
        return EXIT.ok;
    }
  } finally {
    db.close();
  }
}

async function runRedis(command: Command, backend: Extract<Backend, { kind: 'redis' }>, io: CliIo): Promise<number> {
  const connection = normalizeConnection(backend.url);
  // One queue per receiver: the one asked for, or every receiver's default queue found on this Redis.
  let names: string[];
  try {
    names = backend.queue === undefined ? await findReceiverQueues(connection, backend.prefix) : [backend.queue];
  } catch (error) {
    throw new Error(`${redactRedisUrl(backend.url)}: ${(error as Error).message}`, { cause: error });
  }
  const queues = names.map((name) => openAdminQueue(connection, name, backend.prefix));
  /** Runs `work` on each queue in turn, naming the queue in an error. */
  const each = async <T>(work: (queue: AdminQueue) => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    for (const queue of queues) {
      try {
        out.push(await work(queue));
      } catch (error) {
        throw new Error(`${queue.where}: ${(error as Error).message}`, { cause: error });
      }
    }
    return out;
  };
  try {
    switch (command.name) {
      case 'dead-letters':
        printDeadLetters((await each((queue) => queue.deadLetters())).flat(), command.json, io);
        return EXIT.ok;
      case 'replay':
        return printReplayed(command.ids, [...new Set((await each((queue) => queue.replay(command.ids))).flat())], command.json, io, "the receivers' workers pick them up");
      case 'stats': {
        const total: BullmqCounts = { queued: 0, running: 0, dead: 0, workers: 0 };
        for (const counts of await each((queue) => queue.stats())) {
          for (const key of ['queued', 'running', 'dead', 'workers'] as const) total[key] = (total[key] ?? 0) + (counts[key] ?? 0);
        }
        printStats(total, command.json, io);
        return EXIT.ok;
      }
      case 'imports':
        printImports((await each((queue) => queue.imports())).flat(), command.json, io);
        return EXIT.ok;
    }
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
  }
}

function printDeadLetters(letters: readonly ReceiverDeadLetter[], json: boolean, io: CliIo): void {
  if (json) {
    io.stdout(`${JSON.stringify(letters, null, 2)}\n`);
    return;
  }
  if (letters.length === 0) {
    io.stdout('No dead letters.\n');
    return;
  }
  const rows = letters.map((l) => [l.receiver, l.id, l.event.type, String(l.attempts), l.event.receivedAt.toISOString(), `${l.error.type}: ${oneLine(l.error.message)}`]);
  io.stdout(table(['RECEIVER', 'ID', 'TYPE', 'ATTEMPTS', 'RECEIVED', 'LAST ERROR'], rows));
  io.stdout(`${letters.length} dead letter${letters.length === 1 ? '' : 's'}. Replay with: scrapehook replay <id> (or --all)\n`);
}

function printReplayed(asked: readonly string[] | undefined, done: readonly string[], json: boolean, io: CliIo, pickup: string): number {
  const missing = asked === undefined ? [] : asked.filter((id) => !done.includes(id));
  if (json) io.stdout(`${JSON.stringify({ replayed: done, missing })}\n`);
  else {
    io.stdout(done.length === 0 ? 'Nothing re-queued.\n' : `Re-queued ${done.length} dead letter${done.length === 1 ? '' : 's'} (${pickup}): ${done.join(', ')}\n`);
  }
  for (const id of missing) io.stderr(`scrapehook: no dead letter with id ${JSON.stringify(id)}\n`);
  return missing.length > 0 ? EXIT.failed : EXIT.ok;
}

/** An import as listed: its delivery, and what its checkpoint says. */
interface ShownImport {
  receiver: string;
  delivery: string;
  provider: string;
  jobId: string;
  /** `done` (every row written, completed), `importing` (its delivery queued or running), `failed` (a dead letter). */
  state: 'done' | 'importing' | 'failed';
  rows: number;
  batches: number;
  bytes: number;
  updatedAt: string;
}

function showImport({ receiver, id, state, checkpoint }: ImportListing): ShownImport | undefined {
  let saved: { provider?: unknown; jobId?: unknown; rows?: unknown; batches?: unknown; bytes?: unknown; done?: unknown; updatedAt?: unknown };
  try {
    saved = JSON.parse(checkpoint) as typeof saved;
  } catch {
    return undefined;
  }
  const number = (value: unknown) => (typeof value === 'number' ? value : 0);
  return {
    receiver,
    delivery: id,
    provider: String(saved.provider ?? ''),
    jobId: String(saved.jobId ?? ''),
    state: saved.done === true ? 'done' : state === 'dead' ? 'failed' : 'importing',
    rows: number(saved.rows),
    batches: number(saved.batches),
    bytes: number(saved.bytes),
    updatedAt: new Date(number(saved.updatedAt)).toISOString(),
  };
}

function printImports(listed: readonly ImportListing[], json: boolean, io: CliIo): void {
  const imports = listed.flatMap((entry) => showImport(entry) ?? []);
  if (json) {
    io.stdout(`${JSON.stringify(imports, null, 2)}\n`);
    return;
  }
  if (imports.length === 0) {
    io.stdout('No imports.\n');
    return;
  }
  const rows = imports.map((i) => [i.receiver, i.delivery, i.provider, i.jobId, i.state, String(i.rows), String(i.batches), String(i.bytes), i.updatedAt]);
  io.stdout(table(['RECEIVER', 'DELIVERY', 'PROVIDER', 'JOB', 'STATE', 'ROWS', 'BATCHES', 'BYTES', 'UPDATED'], rows));
}

function printStats(counts: object, json: boolean, io: CliIo): void {
  if (json) {
    io.stdout(`${JSON.stringify(counts)}\n`);
    return;
  }
  io.stdout(table(['STATE', 'COUNT'], Object.entries(counts).map(([state, n]) => [state, String(n)])));
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.min(r[i]!.length, 60))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : truncate(c, 60).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function oneLine(text: string): string {
  return truncate(text.replace(/\s+/g, ' '), 120);
}

function version(): string {
  // From src/cli/ and from dist/cli/ alike, the package root is two levels up.
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}
