// Looking for a secret where a user could see it: what a logger was given, and an error as any
// logger or listener could print it.
import { inspect } from 'node:util';
import type { Logger } from '../../src/index.ts';

/** A logger that keeps every call exactly as the library made it. */
export function recordingLogger(onCall?: (call: unknown[]) => void): { logger: Logger; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const record =
    (level: string) =>
    (...args: unknown[]): void => {
      calls.push([level, ...args]);
      onCall?.([level, ...args]);
    };
  return { logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') } as Logger, calls };
}

/**
 * Every way a logger or a listener could render `value`: JSON (with a replacer that survives cycles),
 * util.inspect with nothing hidden or cut, and a walk over every own property (enumerable or not)
 * that decodes byte arrays, since Redis commands carry bodies as Buffers.
 */
export function rendered(value: unknown): string {
  const seen = new WeakSet<object>();
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[cycle]';
      seen.add(v);
    }
    return typeof v === 'bigint' ? String(v) : v;
  });
  const inspected = inspect(value, { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity, showHidden: true, breakLength: Infinity });
  const parts: string[] = [];
  const walked = new WeakSet<object>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (v instanceof Uint8Array) parts.push(Buffer.from(v).toString('utf8'), Buffer.from(v).toString('latin1'));
    else if (typeof v === 'object' && v !== null && !walked.has(v)) {
      walked.add(v);
      for (const key of Reflect.ownKeys(v)) {
        const descriptor = Object.getOwnPropertyDescriptor(v, key);
        if (descriptor && 'value' in descriptor) walk(descriptor.value);
      }
    }
  };
  walk(value);
  return [json, inspected, ...parts].join('\n');
}
