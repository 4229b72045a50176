// `scrapehook send`: a realistic, signed (or token-carrying) delivery of any built-in provider,
// posted to a receiver as that provider's sender would, with its timeout and retries (`--like`).
// The deliveries come from the same kits as `scrapehook/testing` (src/providers/<p>/testing.ts).
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { TestDelivery, TokenPlacement } from '../testing/delivery.ts';
import type { KitDeliveryInput, ProviderKit, SenderSchedule } from '../testing/kit.ts';
import { kitFor, providerKits, senderFor } from '../testing/kits.ts';

/** What `send` needs of the CLI's IO (a subset of `CliIo`, plus stdin for `--data -`). */
export interface SendIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Reads all of stdin (for `--data -`). @default process.stdin */
  stdin?: () => Promise<Buffer>;
}

const DEFAULT_URL = 'http://localhost:3000';
/** A single attempt without `--like` waits this long, as `sendDelivery` does. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** At most this much of an answer is read (to show its status and error code). */
const MAX_ANSWER_BYTES = 64 * 1024;

export class SendUsageError extends Error {}

function scheduleLine(name: string, schedule: SenderSchedule): string {
  const delays = schedule.retryDelaysMs;
  const retries = delays.length > 6 ? `${delays.slice(0, 4).map(duration).join(', ')} ... ${duration(delays.at(-1)!)}` : delays.map(duration).join(', ');
  return `${name.padEnd(11)} ${duration(schedule.timeoutMs)}; ${delays.length} retries after ${retries}\n${' '.repeat(41)}(${schedule.note})`;
}

export function sendHelp(): string {
  const senders = providerKits.flatMap((kit) => Object.entries(kit.senders).map(([name, schedule]) => `                             ${scheduleLine(name, schedule)}`));
  const undocumented = providerKits.filter((kit) => kit.noSender !== undefined).map((kit) => `${kit.noSender}.`);
  return `Usage: scrapehook send <provider> [<event-type>] [options]

Posts a realistic delivery of <provider> to a receiver, signed with the secret or carrying the
token as that provider's sender does, and reports per attempt what the receiver answered (status,
error code, delivery id, duplicate) and how long it took. The deliveries are those of
scrapehook/testing: a fresh delivery id each time, so each send is a new notification.

Arguments:
  <provider>               firecrawl, apify, thordata, webscraper, standard-webhooks (or standard)
  <event-type>             An event type with a sample, e.g. crawl.page, ACTOR.RUN.FAILED,
                           scrapingjob.stopped (default: the most common, e.g. crawl.page,
                           scrapingjob.finished); any type for standard-webhooks

Where to:
  --url <url>              The receiver's route (http://localhost:3000/webhooks/apify), or a bare
                           origin, to which the provider's default path /webhooks/<provider> is
                           added (the routes of \`npm start\`). Default: $SCRAPEHOOK_URL, else
                           ${DEFAULT_URL}
  --token-in <where>       param: appended to the path (default); query: ?token=;
                           header: Authorization: Bearer (not for webscraper)

Credentials (never printed; prefer the environment, as command lines are visible to other users):
  --secret <secret>        Firecrawl's webhook secret, or the whsec_ secret of standard-webhooks.
                           Default: FIRECRAWL_WEBHOOK_SECRET / STANDARD_WEBHOOK_SECRET (the
                           variables \`npm start\` prints), else SCRAPEHOOK_SECRET
  --token <token>          The URL token of apify, thordata, webscraper (or of a Firecrawl team
                           without a secret). Default: APIFY_WEBHOOK_TOKEN, THORDATA_WEBHOOK_TOKEN,
                           WEBSCRAPER_WEBHOOK_TOKEN, FIRECRAWL_WEBHOOK_TOKEN, else SCRAPEHOOK_TOKEN

Body:
  --data <file|->          Send this body (a file, or - for stdin) instead of a sample, byte for
                           byte (signed over those bytes). Ids held in the body (Firecrawl's
                           webhookId, Web Scraper Cloud's job id) are then yours: every send of it
                           is the same notification

Behaviour:
  --like <sender>          Behave as that sender: its timeout per attempt, then its retries (each
                           wait counted from the failed attempt) until a 2xx or the last retry:
${senders.join('\n')}
                           ${undocumented.join(' ')} Without --like: one attempt.
  --timeout <seconds>      The timeout of each attempt (default: the sender's; without --like, 10)
  --time-scale <factor>    Multiplies every wait and timeout: 0.001 runs Firecrawl's 21-minute
                           schedule in about 1.3 s, and its 10 s timeout becomes 10 ms (pick a
                           scale that leaves your receiver time to answer). Default 1
  --repeat <n>             Send each delivery n times, one after another, with the SAME delivery
                           id: the first is accepted (202), the others are duplicates (200)
  --concurrency <c>        Send c DIFFERENT deliveries (fresh ids) at once: a burst. With
                           --repeat, each of the c is repeated
  --json                   Print one JSON document: the plan, and every attempt
  -h, --help               Show this help

A delivery is delivered at its first 2xx. Non-2xx, no answer within the timeout, and network
errors are failures, retried with --like. Exit codes: 0 every delivery delivered; 1 a sender would
give up on one (every attempt failed); 2 usage error.

Examples:
  scrapehook send firecrawl crawl.page                     # to npm start, secret from the env
  scrapehook send webscraper --like webscraper --time-scale 0.1
  scrapehook send apify ACTOR.RUN.FAILED --url https://example.com/hooks/apify --token-in header
  scrapehook send firecrawl --repeat 3                     # 202, then 200 duplicates
  scrapehook send standard-webhooks order.paid --concurrency 50 --json
  scrapehook send firecrawl --data ./crawl-page.json --like firecrawl --time-scale 0.001
`;
}

/** The send, as parsed and checked: everything needed to run it. */
interface SendPlan {
  kit: ProviderKit;
  type: string;
  input: KitDeliveryInput;
  origin: URL;
  like: { name: string; schedule: SenderSchedule } | undefined;
  timeScale: number;
  /** Scaled: what the run really waits. */
  timeoutMs: number;
  retryDelaysMs: number[];
  repeat: number;
  concurrency: number;
  json: boolean;
  /** Values never to print. */
  secrets: string[];
}

function positiveInteger(name: string, value: string | undefined, max: number): number {
  if (value === undefined) return 1;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new SendUsageError(`${name} takes a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  return Number(value);
}

function positiveNumber(name: string, value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0) throw new SendUsageError(`${name} takes a number greater than 0, got ${JSON.stringify(value)}`);
  return number;
}

async function parseSend(argv: readonly string[], io: SendIo): Promise<SendPlan | 'help'> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      'token-in': { type: 'string' },
      secret: { type: 'string' },
      token: { type: 'string' },
      data: { type: 'string' },
      like: { type: 'string' },
      timeout: { type: 'string' },
      'time-scale': { type: 'string' },
      repeat: { type: 'string' },
      concurrency: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const [providerName, typeArg, ...rest] = positionals;
  const names = providerKits.map((k) => k.name).join(', ');
  if (providerName === undefined) throw new SendUsageError(`send needs a provider: ${names}`);
  const kit = kitFor(providerName);
  if (kit === undefined) throw new SendUsageError(`unknown provider ${JSON.stringify(providerName)} (expected ${names})`);
  if (rest.length > 0) throw new SendUsageError(`send takes a provider and an event type, got also ${JSON.stringify(rest[0])}`);
  if (typeArg !== undefined && values.data !== undefined) throw new SendUsageError('give an event type or --data, not both: a given body is sent as it is');
  if (typeArg !== undefined && !kit.anyType && !Object.hasOwn(kit.samples, typeArg)) {
    throw new SendUsageError(`unknown event type ${JSON.stringify(typeArg)} of ${kit.name} (expected one of ${Object.keys(kit.samples).join(', ')})`);
  }

  const tokenIn = values['token-in'];
  if (tokenIn !== undefined && tokenIn !== 'param' && tokenIn !== 'query' && tokenIn !== 'header') {
    throw new SendUsageError(`--token-in takes param, query or header, got ${JSON.stringify(tokenIn)}`);
  }

  // Credentials: the flags, else the provider's own variables (those `npm start` prints), else the generic ones.
  const { secret, token } = credentials(kit, values.secret, values.token, io.env);

  const rawUrl = values.url ?? (io.env.SCRAPEHOOK_URL || DEFAULT_URL);
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new SendUsageError(`--url takes an absolute http:// or https:// URL, got ${JSON.stringify(hide(rawUrl, [secret, token]))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SendUsageError(`--url takes an http:// or https:// URL, got ${url.protocol}`);
  const path = url.pathname === '/' && url.search === '' ? undefined : `${url.pathname}${url.search}`;

  let body: Buffer | undefined;
  if (values.data !== undefined) {
    try {
      body = values.data === '-' ? await (io.stdin ?? (() => buffer(process.stdin)))() : await readFile(values.data);
    } catch (error) {
      throw new SendUsageError(`--data ${values.data}: ${(error as Error).message}`);
    }
  }

  let like: SendPlan['like'];
  if (values.like !== undefined) {
    const found = senderFor(values.like) ?? senderOfKit(values.like);
    if (found === undefined) {
      const known = providerKits.flatMap((k) => Object.keys(k.senders)).join(', ');
      const undocumented = kitFor(values.like)?.noSender;
      throw new SendUsageError(
        undocumented !== undefined
          ? `--like ${values.like}: ${undocumented}. Send without --like (one attempt), or like one of ${known}`
          : `unknown sender ${JSON.stringify(values.like)} for --like (expected ${known})`,
      );
    }
    like = found;
  }
  const timeScale = values['time-scale'] === undefined ? 1 : positiveNumber('--time-scale', values['time-scale']);
  const timeoutMs = values.timeout === undefined ? (like?.schedule.timeoutMs ?? DEFAULT_TIMEOUT_MS) : positiveNumber('--timeout', values.timeout) * 1000;
  const scaled = (ms: number) => Math.max(1, Math.round(ms * timeScale));

  const input: KitDeliveryInput = { type: typeArg, secret, token, tokenIn, path, body };
  try {
    kit.build(input); // refuses a credential that does not fit (a secret that is not base64, a header token for webscraper)
  } catch (error) {
    if (error instanceof TypeError) throw new SendUsageError(error.message);
    throw error;
  }
  return {
    kit,
    type: typeArg ?? kit.defaultType,
    input,
    origin: new URL(url.origin),
    like,
    timeScale,
    timeoutMs: scaled(timeoutMs),
    retryDelaysMs: (like?.schedule.retryDelaysMs ?? []).map(scaled),
    repeat: positiveInteger('--repeat', values.repeat, 10_000),
    concurrency: positiveInteger('--concurrency', values.concurrency, 1_000),
    json: values.json === true,
    secrets: [secret, token].filter((value): value is string => value !== undefined && value !== ''),
  };
}

/** `--like <provider>` for a provider whose senders are named otherwise (standard-webhooks → standard). */
function senderOfKit(name: string): SendPlan['like'] {
  const kit = kitFor(name);
  const first = kit === undefined ? undefined : Object.entries(kit.senders)[0];
  return first === undefined ? undefined : { name: first[0], schedule: first[1] };
}

function credentials(kit: ProviderKit, secretFlag: string | undefined, tokenFlag: string | undefined, env: SendIo['env']) {
  const takesSecret = kit.credentials !== 'token';
  const takesToken = kit.credentials !== 'secret';
  if (secretFlag !== undefined && !takesSecret) throw new SendUsageError(`${kit.name} deliveries carry a token (--token), not a secret`);
  if (tokenFlag !== undefined && !takesToken) throw new SendUsageError(`${kit.name} deliveries are signed with a secret (--secret), not a token`);
  let secret = secretFlag;
  let token = tokenFlag;
  if (secret === undefined && token === undefined) {
    const own = (name: string | undefined) => (name === undefined ? undefined : env[name] || undefined);
    secret = takesSecret ? own(kit.env.secret) : undefined;
    token = takesToken ? own(kit.env.token) : undefined;
    if (secret === undefined && token === undefined) {
      secret = takesSecret ? env.SCRAPEHOOK_SECRET || undefined : undefined;
      // Firecrawl: the generic token only when there is no secret (a team without one).
      token = takesToken && secret === undefined ? env.SCRAPEHOOK_TOKEN || undefined : undefined;
    }
  }
  if (secret === '' || token === '') throw new SendUsageError(`--${secret === '' ? 'secret' : 'token'} is empty`);
  if (secret === undefined && token === undefined) {
    const wants = kit.credentials === 'secret-or-token' ? 'a secret or a token' : `a ${kit.credentials}`;
    const vars = [kit.env.secret, kit.env.token, takesSecret ? 'SCRAPEHOOK_SECRET' : undefined, takesToken ? 'SCRAPEHOOK_TOKEN' : undefined].filter(Boolean);
    const flags = [takesSecret ? '--secret' : undefined, takesToken ? '--token' : undefined].filter(Boolean);
    throw new SendUsageError(`${kit.name} needs ${wants}: give ${flags.join(' or ')}, or set ${vars.join(' or ')}`);
  }
  return { secret, token };
}

/** Every occurrence of a secret (as is, and as it appears in a URL) replaced by `***`. */
function hide(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  const forms = secrets.flatMap((value) => (value ? [value, encodeURIComponent(value)] : [])).sort((a, b) => b.length - a.length);
  for (const form of forms) out = out.split(form).join('***');
  return out;
}

/** What one attempt got. */
export interface AttemptReport {
  /** Which of the `--concurrency` deliveries (1-based). */
  delivery: number;
  /** Which `--repeat` of it (1-based). */
  repeat: number;
  /** 1 for the first attempt, 2 for the first retry, ... */
  attempt: number;
  /** The most attempts the sender makes. */
  attempts: number;
  /** The wait before this attempt, as scheduled (0 for the first). */
  waitedMs: number;
  /** When it started, in ms since its delivery's first attempt. */
  startMs: number;
  /** How long until the answer, the timeout or the error. */
  durationMs: number;
  /** `answered` (any HTTP status), `timeout` (no whole answer in time) or `error` (no answer: refused, reset, ...). */
  outcome: 'answered' | 'timeout' | 'error';
  /** The HTTP status, when answered. */
  status?: number;
  /** The receiver's error code (`unauthorized`, `payload.invalid`, ...), or the network error's (`ECONNREFUSED`). */
  code?: string;
  /** The delivery id the receiver answered with. */
  id?: string;
  /** `true` when the receiver answered that it had it already. */
  duplicate?: boolean;
  /** A 2xx: the sender stops. */
  delivered: boolean;
}

type Answer = Pick<AttemptReport, 'outcome' | 'status' | 'code' | 'id' | 'duplicate' | 'durationMs'>;

/** One POST with a deadline on the whole answer (not only on an idle socket), as senders time out. */
function post(origin: URL, delivery: TestDelivery, timeoutMs: number): Promise<Answer> {
  const url = new URL(delivery.path, origin);
  const client = url.protocol === 'https:' ? https : http;
  const started = performance.now();
  return new Promise<Answer>((resolve) => {
    let done = false;
    const finish = (answer: Omit<Answer, 'durationMs'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ...answer, durationMs: Math.round(performance.now() - started) });
    };
    const headers = { ...delivery.headers, 'content-length': String(delivery.body.length) };
    const req = client.request(url, { method: delivery.method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish({ outcome: 'error', code: error.code ?? 'response.error' }));
      res.on('end', () => finish({ outcome: 'answered', status: res.statusCode ?? 0, ...answerFields(Buffer.concat(chunks).toString('utf8')) }));
    });
    const timer = setTimeout(() => finish({ outcome: 'timeout', code: 'timeout' }), timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => finish({ outcome: 'error', code: error.code ?? 'request.error' }));
    req.end(delivery.body);
  });
}

/** The id, duplicate flag and error code of a scrapehook answer (`{ id, duplicate? }` or `{ error: { code } }`). */
function answerFields(text: string): Pick<Answer, 'id' | 'duplicate' | 'code'> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof json !== 'object' || json === null) return {};
  const { id, duplicate, error } = json as { id?: unknown; duplicate?: unknown; error?: { code?: unknown } };
  return {
    ...(typeof id === 'string' ? { id } : {}),
    ...(duplicate === true ? { duplicate: true } : {}),
    ...(typeof error === 'object' && error !== null && typeof error.code === 'string' ? { code: error.code } : {}),
  };
}

/** Runs `scrapehook send` (argv after `send`); resolves with the exit code. */
export async function send(argv: readonly string[], io: SendIo): Promise<number> {
  let plan: SendPlan | 'help';
  try {
    plan = await parseSend(argv, io);
  } catch (error) {
    if (!(error instanceof SendUsageError) && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') !== true) throw error;
    // A parse error can quote an argument, and an argument can be a secret: hide every flag value named so.
    const secrets = [optionValue(argv, '--secret'), optionValue(argv, '--token')];
    io.stderr(`scrapehook: ${hide((error as Error).message, secrets)}\nRun \`scrapehook send --help\` for usage.\n`);
    return 2;
  }
  if (plan === 'help') {
    io.stdout(sendHelp());
    return 0;
  }
  const { secrets } = plan;
  const out = (text: string) => io.stdout(hide(text, secrets));
  try {
    return await run(plan, out);
  } catch (error) {
    io.stderr(`scrapehook: ${hide(String((error as Error).message), secrets)}\n`);
    return 1;
  }
}

async function run(plan: SendPlan, out: (text: string) => void): Promise<number> {
  const { secrets } = plan;
  const attempts = plan.retryDelaysMs.length + 1;
  const first = plan.kit.build(plan.input);
  const shownUrl = hide(new URL(first.path, plan.origin).toString(), secrets);

  if (!plan.json) {
    out(`POST ${shownUrl} (${plan.kit.name} ${plan.input.body === undefined ? plan.type : 'body from --data'})\n`);
    out(`${describePlan(plan)}\n`);
  }
  const many = plan.concurrency > 1 || plan.repeat > 1;
  const reports: AttemptReport[] = [];
  const results: { delivery: number; repeat: number; delivered: boolean }[] = [];
  const report = (entry: AttemptReport) => {
    reports.push(entry);
    if (!plan.json) out(`${many ? `delivery ${entry.delivery}.${entry.repeat} ` : ''}${attemptLine(entry)}\n`);
  };

  const deliver = async (index: number) => {
    let delivery = index === 1 ? first : plan.kit.build(plan.input);
    for (let repeat = 1; repeat <= plan.repeat; repeat++) {
      if (repeat > 1) delivery = plan.kit.reattempt?.(delivery, plan.input) ?? delivery;
      let delivered = false;
      const started = performance.now();
      for (let attempt = 1; attempt <= attempts && !delivered; attempt++) {
        const waitedMs = attempt === 1 ? 0 : plan.retryDelaysMs[attempt - 2]!;
        if (attempt > 1) {
          await sleep(waitedMs);
          delivery = plan.kit.reattempt?.(delivery, plan.input) ?? delivery;
        }
        const startMs = Math.round(performance.now() - started);
        const answer = await post(plan.origin, delivery, plan.timeoutMs);
        delivered = answer.outcome === 'answered' && answer.status! >= 200 && answer.status! < 300;
        report({ delivery: index, repeat, attempt, attempts, waitedMs, startMs, ...answer, delivered });
      }
      results.push({ delivery: index, repeat, delivered });
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, (_, i) => deliver(i + 1)));

  const delivered = results.filter((r) => r.delivered).length;
  const failed = results.length - delivered;
  if (plan.json) {
    out(
      `${JSON.stringify(
        {
          provider: plan.kit.name,
          type: plan.input.body === undefined ? plan.type : null,
          url: shownUrl,
          like: plan.like ? { name: plan.like.name, ...plan.like.schedule } : null,
          timeScale: plan.timeScale,
          timeoutMs: plan.timeoutMs,
          retryDelaysMs: plan.retryDelaysMs,
          repeat: plan.repeat,
          concurrency: plan.concurrency,
          delivered,
          failed,
          attempts: reports,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    const total = results.length;
    out(failed === 0 ? `Delivered ${delivered} of ${total}.\n` : `Delivered ${delivered} of ${total}; the sender would give up on ${failed}.\n`);
  }
  return failed === 0 ? 0 : 1;
}

/** The value of `--name value` or `--name=value` in argv, if any (to hide it from a usage error). */
function optionValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i]!.startsWith(`${name}=`)) return argv[i]!.slice(name.length + 1);
  }
  return undefined;
}

function describePlan(plan: SendPlan): string {
  const scale = plan.timeScale === 1 ? '' : ` (time scale ${plan.timeScale})`;
  if (plan.like === undefined) return `One attempt, timeout ${duration(plan.timeoutMs)}${scale}.`;
  const { label, timeoutMs, retryDelaysMs } = plan.like.schedule;
  const own = `timeout ${duration(timeoutMs)}, retries after ${retryDelaysMs.map(duration).join(', ')}`;
  const scaled = plan.timeScale === 1 ? '' : `; at time scale ${plan.timeScale}: timeout ${duration(plan.timeoutMs)}, retries after ${plan.retryDelaysMs.map(duration).join(', ')}`;
  return `Like ${label}: ${own}${scaled}. Stops at the first 2xx.`;
}

function attemptLine(entry: AttemptReport): string {
  const head = `attempt ${entry.attempt}/${entry.attempts}${entry.attempt > 1 ? ` after ${duration(entry.waitedMs)}` : ''} at +${duration(entry.startMs)}:`;
  let what: string;
  if (entry.outcome === 'timeout') what = 'no answer within the timeout';
  else if (entry.outcome === 'error') what = `no answer (${entry.code})`;
  else {
    what = `${entry.status} ${http.STATUS_CODES[entry.status!] ?? ''}`.trimEnd();
    if (entry.code !== undefined) what += ` ${entry.code}`;
    if (entry.id !== undefined) what += ` id ${entry.id}`;
    if (entry.duplicate) what += ' (duplicate)';
  }
  return `${head} ${what} in ${duration(entry.durationMs)}${entry.delivered ? '' : entry.attempt === entry.attempts ? ', gives up' : ', will retry'}`;
}

/** `850 ms`, `1.5 s`, `15 min`, `2 h`, `17.1 h`. */
export function duration(ms: number): string {
  const trim = (n: number) => String(Number(n.toFixed(n < 10 ? 2 : 1)));
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${trim(ms / 1000)} s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)} min`;
  return `${trim(ms / 3_600_000)} h`;
}
