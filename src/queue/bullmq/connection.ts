import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { redactConnectionUrl } from '../connection-url.ts';

/** How to reach Redis, when not given as a URL. */
export interface RedisConnectionOptions {
  /**
   * A URL such as `redis://user:password@host:6379/0` (`rediss://` for TLS); the other fields
   * override its parts.
   */
  url?: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 6379 */
  port?: number;
  username?: string;
  password?: string;
  /** The database number. @default 0 */
  db?: number;
  /** TLS options as for `tls.connect()`; `{}` turns TLS on with the defaults. */
  tls?: TlsOptions;
}

/** A Redis URL, or the parts of a connection. */
export type RedisConnection = string | RedisConnectionOptions;

/** The options handed to BullMQ (which creates its ioredis clients from them): the same fields. */
export type NormalizedConnection = RedisConnectionOptions;

/** @throws {TypeError} when `connection` is neither a URL nor an options object. */
export function normalizeConnection(connection: RedisConnection): NormalizedConnection {
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection)) {
      throw new TypeError(`Expected \`connection\` to be a redis:// or rediss:// URL, got ${JSON.stringify(redactRedisUrl(connection))}`);
    }
    return { url: connection };
  }
  if (typeof connection !== 'object' || connection === null) {
    throw new TypeError(`Expected \`connection\` to be a Redis URL or connection options, got ${connection === null ? 'null' : typeof connection}`);
  }
  const out: NormalizedConnection = {};
  for (const key of ['url', 'host', 'port', 'username', 'password', 'db', 'tls'] as const) {
    if (connection[key] !== undefined) (out as Record<string, unknown>)[key] = connection[key];
  }
  return out;
}

/**
 * A Redis URL that is safe to print: its password (and a user name given without one) replaced
 * by `***`. Answers `[invalid url]` for something that does not parse, since it may hold a secret.
 *
 * @example redactRedisUrl('redis://:s3cret@cache:6379/0') // 'redis://:***@cache:6379/0'
 */
export function redactRedisUrl(url: string): string {
  return redactConnectionUrl(url);
}

/** Where a connection points, for logs and the CLI: never its password. */
export function describeConnection(connection: NormalizedConnection): string {
  if (connection.url !== undefined) return redactRedisUrl(connection.url);
  return `${connection.tls ? 'rediss' : 'redis'}://${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}/${connection.db ?? 0}`;
}
