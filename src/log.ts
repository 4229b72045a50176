import type { Logger } from './types.ts';

const noop = (): void => {};

/** The default logger: says nothing. Pass `logger: pino()` (or any pino-compatible logger) to see logs. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * Makes a URL safe to log: every query value becomes `[redacted]`, and every path segment equal to
 * a route parameter's value becomes `:name` (tokens are often carried in one or the other).
 *
 * @example redactUrl('/hooks/s3cr3t?token=abc', { token: 's3cr3t' }) // '/hooks/:token?token=[redacted]'
 */
export function redactUrl(url: string, params?: Readonly<Record<string, string>>): string {
  const mark = url.indexOf('?');
  let path = mark === -1 ? url : url.slice(0, mark);
  const names = params ? Object.keys(params) : [];
  if (names.length > 0) {
    path = path
      .split('/')
      .map((segment) => {
        let decoded = segment;
        try {
          decoded = decodeURIComponent(segment);
        } catch {
          // Leave a malformed segment as it is.
        }
        const name = names.find((n) => params![n] !== '' && params![n] === decoded);
        return name === undefined ? segment : `:${name}`;
      })
      .join('/');
  }
  if (mark === -1) return path;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq === -1 ? pair : `${pair.slice(0, eq)}=[redacted]`;
    })
    .join('&');
  return `${path}?${query}`;
}
