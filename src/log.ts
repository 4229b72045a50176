import { types } from 'node:util';
import { WebhookError } from './errors.ts';
import type { Logger } from './types.ts';

const noop = (): void => {};

/** The default logger: says nothing. Pass `logger: pino()` (or any pino-compatible logger) to see logs. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

const REDACTED = '[redacted]';
/** Query parameter names shown as they are; anything else (or longer) could be a token. */
const NAME = /^[A-Za-z0-9_.[\]-]{1,32}$/;

/**
 * Makes a URL safe to log: every route parameter's value is replaced by `:name` wherever it
 * stands in the path (a whole segment or part of one, percent-encoded or not), and every query
 * component is redacted: `name=value` becomes `name=[redacted]`, and a component without `=` (or
 * whose name does not look like a name) becomes `[redacted]`. Tokens are often carried in one or
 * the other.
 *
 * @example redactUrl('/hooks/key-s3cr3t?token=abc&s3cr3t', { token: 's3cr3t' }) // '/hooks/key-:token?token=[redacted]&[redacted]'
 */
export function redactUrl(url: string, params?: Readonly<Record<string, string>>): string {
  const mark = url.indexOf('?');
  const path = redactPath(mark === -1 ? url : url.slice(0, mark), secretsOf(params));
  if (mark === -1) return path;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((component) => {
      if (component === '') return component;
      const eq = component.indexOf('=');
      if (eq === -1) return REDACTED;
      const name = decodeLenient(component.slice(0, eq).replaceAll('+', ' '));
      return NAME.test(name) ? `${name}=${REDACTED}` : REDACTED;
    })
    .join('&');
  return `${path}?${query}`;
}

/** Route parameter values to hide, longest first (so a value containing another is hidden whole). */
function secretsOf(params: Readonly<Record<string, unknown>> | undefined): [name: string, value: string][] {
  if (!params) return [];
  const out: [string, string][] = [];
  for (const [name, raw] of Object.entries(params)) {
    // Express 5 gives a wildcard parameter as an array of segments.
    const value = Array.isArray(raw) ? raw.join('/') : raw;
    if (typeof value === 'string' && value !== '') out.push([name, value]);
  }
  return out.sort((a, b) => b[1].length - a[1].length);
}

function redactPath(path: string, secrets: readonly [string, string][]): string {
  if (secrets.length === 0) return path;
  const hide = (text: string): string => {
    for (const [name, value] of secrets) text = text.replaceAll(value, `:${name}`);
    return text;
  };
  const segments = path.split('/').map((segment) => {
    const raw = hide(segment);
    const decoded = decodeLenient(raw);
    if (decoded === raw) return raw;
    const hidden = hide(decoded);
    return hidden === decoded ? raw : encodeSegment(hidden);
  });
  const out = segments.join('/');
  // A value spanning segments (a wildcard parameter, or an encoded '/'): hide it in the decoded path.
  const decoded = decodeLenient(out);
  const hidden = hide(decoded);
  return hidden === decoded ? out : hidden.split('/').map(encodeSegment).join('/');
}

/** Decodes every well-formed run of `%XX` escapes, leaving malformed ones as they are. */
function decodeLenient(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Percent-encodes what a path segment should not show raw, keeping `:name` markers readable. */
function encodeSegment(text: string): string {
  return text.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (char) => {
    try {
      return encodeURIComponent(char);
    } catch {
      return '%EF%BF%BD'; // A lone surrogate.
    }
  });
}

/**
 * Credentials inside a message: the password of `scheme://user:pass@` (a user name alone, which may
 * be a token, too), as `redactRedisUrl` does, and `password=...` / `token: ...` pairs.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)(?:([^\s/@:]*):)?[^\s/@]+@/gi;
const SECRET_PAIRS = /\b(pass(?:word)?|passwd|pwd|secret|token|api[-_]?key|authorization)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&,;'")]+)/gi;
/** Longest message or string field kept; the rest is cut (a huge message is more likely a payload). */
const MAX_TEXT = 2000;

/** A message with credentials replaced by `***`, cut to a bounded length. */
export function scrubMessage(text: string): string {
  const scrubbed = text.replace(URL_CREDENTIALS, (_match, scheme: string, user: string | undefined) => `${scheme}${user === undefined ? '' : `${user}:`}***@`).replace(SECRET_PAIRS, '$1$2***');
  return scrubbed.length > MAX_TEXT ? `${scrubbed.slice(0, MAX_TEXT)}… [cut]` : scrubbed;
}

/** Primitive fields of an error kept in its safe copy (when they are strings, numbers or booleans). */
const KEPT_FIELDS = ['code', 'errno', 'syscall', 'status', 'statusCode', 'type'] as const;
const NATIVE_PROTOTYPES = new Set<object>(
  [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError, AggregateError, WebhookError].map((c) => c.prototype),
);
const MAX_DEPTH = 8;

function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/**
 * A copy of an error that is safe to log or hand to a listener, whatever serializer renders it:
 * its name, message and stack (credentials scrubbed from both), its `code`, `errno`, `syscall`,
 * `status`, `statusCode` and `type`, a WebhookError's `issues`, and the same kind of copy of its
 * `cause` and of an AggregateError's `errors`. Everything else is dropped: Redis, ioredis and
 * BullMQ errors carry the failed command (`command.args`: an AUTH password, a whole delivery
 * body), `previousErrors`, `lastNodeError`, connection `options` with a password.
 *
 * A WebhookError or a built-in error class keeps its class (`instanceof` works); any other class
 * becomes an `Error` with the original `name`. Anything that is not an error is returned as it is.
 */
export function safeError<T>(value: T): T {
  return (isError(value) ? copyError(value, new Map(), 0) : value) as T;
}

function copyError(error: Error, seen: Map<Error, Error>, depth: number): Error {
  const known = seen.get(error);
  if (known) return known;
  const proto: unknown = Object.getPrototypeOf(error);
  const keepClass = typeof proto === 'object' && proto !== null && NATIVE_PROTOTYPES.has(proto);
  const copy = Object.create(keepClass ? (proto as object) : Error.prototype) as Error;
  seen.set(error, copy);
  const define = (key: string, value: unknown, enumerable = false) =>
    Object.defineProperty(copy, key, { value, enumerable, writable: true, configurable: true });
  const own = (key: string) => Object.getOwnPropertyDescriptor(error, key);

  const name = scrubMessage(String(readSafely(() => error.name) ?? 'Error'));
  if (!keepClass || own('name')) define('name', name, own('name')?.enumerable ?? false);
  const message = scrubMessage(String(readSafely(() => error.message) ?? ''));
  define('message', message);
  const stack = readSafely(() => error.stack);
  const header = message === '' ? name : `${name}: ${message}`;
  const frames = typeof stack === 'string' ? stack.search(/\n\s+at /) : -1;
  define('stack', frames === -1 ? header : header + (stack as string).slice(frames));
  for (const key of KEPT_FIELDS) {
    const descriptor = own(key);
    const kept = descriptor && 'value' in descriptor ? descriptor.value : undefined;
    if (typeof kept === 'number' || typeof kept === 'boolean') define(key, kept, descriptor!.enumerable);
    else if (typeof kept === 'string') define(key, scrubMessage(kept), descriptor!.enumerable);
  }
  const issues = own('issues');
  if (error instanceof WebhookError && issues && Array.isArray(issues.value)) {
    define(
      'issues',
      (issues.value as { path?: unknown; code?: unknown; message?: unknown }[]).map((issue) => ({
        path: Array.isArray(issue.path) ? issue.path.map((p: unknown) => (typeof p === 'number' ? p : String(p))) : [],
        code: String(issue.code),
        message: scrubMessage(String(issue.message)),
      })),
      issues.enumerable,
    );
  }
  const cause = own('cause');
  if (cause && 'value' in cause) {
    const safe = safeValue(cause.value, seen, depth + 1);
    if (safe !== undefined) define('cause', safe, cause.enumerable);
  }
  const errors = own('errors');
  if (errors && Array.isArray(errors.value)) {
    define(
      'errors',
      (errors.value as unknown[]).map((e) => safeValue(e, seen, depth + 1)),
      errors.enumerable,
    );
  }
  return copy;
}

/** An error becomes its safe copy, a string is scrubbed; other objects (a command, options) are dropped. */
function safeValue(value: unknown, seen: Map<Error, Error>, depth: number): unknown {
  if (isError(value)) return depth > MAX_DEPTH ? undefined : copyError(value, seen, depth);
  if (typeof value === 'string') return scrubMessage(value);
  if (typeof value === 'object' && value !== null) return undefined;
  return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
}

function readSafely(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return undefined;
  }
}

const safeLoggers = new WeakSet<Logger>();

/**
 * Wraps a logger so that every error it is given, as the object logged or as one of its fields
 * (`{ err }`), is replaced by its {@link safeError} copy before the logger sees it: the object
 * handed to the user's logger is itself clean, whatever serializer the logger has.
 */
export function safeLogger(logger: Logger): Logger {
  if (logger === silentLogger || safeLoggers.has(logger)) return logger;
  const wrap =
    (level: keyof Logger) =>
    (...args: unknown[]): void => {
      const first = args[0];
      if (typeof first === 'object' && first !== null) args[0] = safeFields(first);
      (logger[level] as (...a: unknown[]) => void).apply(logger, args);
    };
  const wrapped: Logger = { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
  safeLoggers.add(wrapped);
  return wrapped;
}

function safeFields(fields: object): object {
  if (isError(fields)) return safeError(fields);
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (!isError(value)) continue;
    out ??= { ...fields };
    out[key] = safeError(value);
  }
  return out ?? fields;
}
