import type { Logger } from '../../src/types.ts';

/** A logger that keeps every call as one JSON line, to assert what was logged (and what never was). */
export function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = (...args: unknown[]): void => void lines.push(JSON.stringify(args));
  return { logger: { debug: log, info: log, warn: log, error: log }, lines };
}
