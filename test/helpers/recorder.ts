import type { Logger } from '../../src/types.ts';

/** A logger that keeps every call as one JSON line, to assert what was logged (and what never was). */
export function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = (...args: unknown[]): void => void lines.push(JSON.stringify(args));
  return { logger: { debug: log, info: log, warn: log, error: log }, lines };
}

/** One call to a {@link recordingLogger}: its level, its object and its message. */
export interface LogEntry {
  readonly level: string;
  readonly obj: unknown;
  readonly msg?: string;
}

/** A logger that keeps every call as it was made, to assert on fields of what was logged. */
export function recordingLogger(): { logger: Logger; lines: LogEntry[] } {
  const lines: LogEntry[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj, msg });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}
