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

