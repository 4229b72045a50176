import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import type { AdminBackend, ImportListing, ReceiverDeadLetter } from '../admin.ts';
import { scrubMessage } from '../log.ts';
import { openBullmqAdmin } from '../queue/bullmq/admin.ts';
import { redactRedisUrl } from '../queue/bullmq/connection.ts';
import { defaultQueueName } from '../queue/bullmq/jobs.ts';
import { openPostgresAdmin } from '../queue/postgres/admin.ts';
import { redactPostgresUrl } from '../queue/postgres/connection.ts';
import { openSqliteAdmin } from '../store/sqlite/admin.ts';
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
  --postgres <url>         The PostgreSQL given to postgresQueue({ connection }), e.g.
                           postgres://user@db:5432/app. Defaults to the environment variable
                           SCRAPEHOOK_POSTGRES_URL; prefer it when the URL holds a password.
  --queue <name>           A queue name given to bullmqQueue({ name }) or postgresQueue({ name })
                           (default: the queue of --receiver, else every receiver's queue:
                           each ${defaultQueueName('<receiver>')} queue on Redis, every queue in the schema
                           on PostgreSQL)
  --prefix <prefix>        The BullMQ key prefix (default: bull)
  --schema <name>          The PostgreSQL schema given to postgresQueue({ schema }) (default: scrapehook)

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
  SCRAPEHOOK_POSTGRES_URL=postgres://app:secret@db/app scrapehook dead-letters --receiver firecrawl
  scrapehook send webscraper --like webscraper --time-scale 0.1
`;

class UsageError extends Error {}

type Backend =
  | { kind: 'sqlite'; path: string }
  | { kind: 'redis'; url: string; queue: string | undefined; prefix: string }
  | { kind: 'postgres'; url: string; queue: string | undefined; schema: string };

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
    return await run(command, io);
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
      postgres: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      schema: { type: 'string' },
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

  const given = (['sqlite', 'redis', 'postgres'] as const).filter((flag) => values[flag] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --sqlite, --redis and --postgres, not both ${given.map((flag) => `--${flag}`).join(' and ')}`);
  let kind = given[0];
  if (kind === undefined) {
    // From the environment: the URLs may hold passwords, which command lines show to other users.
    const fromEnv = (['redis', 'postgres'] as const).filter((flag) => (flag === 'redis' ? env.SCRAPEHOOK_REDIS_URL : env.SCRAPEHOOK_POSTGRES_URL));
    if (fromEnv.length > 1) throw new UsageError('both SCRAPEHOOK_REDIS_URL and SCRAPEHOOK_POSTGRES_URL are set: say which with --redis or --postgres');
    kind = fromEnv[0];
  }
  if (kind !== 'redis' && values.prefix !== undefined) throw new UsageError('--prefix goes with --redis');
  if (kind !== 'postgres' && values.schema !== undefined) throw new UsageError('--schema goes with --postgres');
  let backend: Backend;
  if (kind === 'sqlite') {
    if (values.queue !== undefined) throw new UsageError('--queue goes with --redis or --postgres');
    backend = { kind: 'sqlite', path: values.sqlite! };
  } else if (kind === 'redis') {
    const url = values.redis ?? env.SCRAPEHOOK_REDIS_URL!;
    if (!/^rediss?:\/\//.test(url)) throw new UsageError(`expected a redis:// or rediss:// URL, got ${redactRedisUrl(url)}`);
    backend = { kind: 'redis', url, queue: values.queue, prefix: values.prefix ?? 'bull' };
  } else if (kind === 'postgres') {
    const url = values.postgres ?? env.SCRAPEHOOK_POSTGRES_URL!;
    if (!/^postgres(?:ql)?:\/\//.test(url)) throw new UsageError(`expected a postgres:// or postgresql:// URL, got ${redactPostgresUrl(url)}`);
    backend = { kind: 'postgres', url, queue: values.queue, schema: values.schema ?? 'scrapehook' };
  } else {
    throw new UsageError('which backend? Give --sqlite <path>, --redis <url> or --postgres <url> (or set SCRAPEHOOK_REDIS_URL or SCRAPEHOOK_POSTGRES_URL)');
  }
  if (values.receiver === '') throw new UsageError('--receiver needs a name');
  return { name, ids: values.all ? undefined : ids, receiver: values.receiver, json: values.json === true, backend };
}

/** Each backend's admin view, for one receiver or all: the CLI knows nothing else of them. */
const OPEN: { [K in Backend['kind']]: (backend: Extract<Backend, { kind: K }>, receiver: string | undefined) => AdminBackend | Promise<AdminBackend> } = {
  sqlite: (backend, receiver) => openSqliteAdmin(backend.path, receiver),
  redis: (backend, receiver) => openBullmqAdmin(backend.url, backend.queue, backend.prefix, receiver),
  postgres: (backend, receiver) => openPostgresAdmin(backend.url, backend.schema, backend.queue, receiver),
};

async function run(command: Command, io: CliIo): Promise<number> {
  const open = OPEN[command.backend.kind] as (backend: Backend, receiver: string | undefined) => AdminBackend | Promise<AdminBackend>;
  const admin = await open(command.backend, command.receiver);
  try {
    switch (command.name) {
      case 'dead-letters':
        printDeadLetters(await admin.deadLetters(), command.json, io);
        return EXIT.ok;
      case 'replay':
        return printReplayed(command.ids, await admin.replay(command.ids), command.json, io, admin.pickup);
      case 'stats':
        printStats(await admin.stats(), command.json, io);
        return EXIT.ok;
      case 'imports':
        printImports(await admin.imports(), command.json, io);
        return EXIT.ok;
    }
  } finally {
    await admin.close();
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
