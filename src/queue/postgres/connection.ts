import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { redactConnectionUrl } from '../connection-url.ts';

/** How to reach PostgreSQL, when not given as a URL. */
export interface PostgresConnectionOptions {
  /**
   * A URL such as `postgres://user:password@host:5432/database?sslmode=require`; the other fields
   * override its parts.
   */
  url?: string;
  /** @default '127.0.0.1' (or PGHOST) */
  host?: string;
  /** @default 5432 (or PGPORT) */
  port?: number;
  /** @default the OS user (or PGUSER) */
  user?: string;
  password?: string;
  /** @default the user name (or PGDATABASE) */
  database?: string;
  /** TLS: `true` for the defaults, or options as for `tls.connect()`. */
  ssl?: boolean | TlsOptions;
}

/** A PostgreSQL URL (`postgres://` or `postgresql://`), or the parts of a connection. */
export type PostgresConnection = string | PostgresConnectionOptions;

/** The options handed to node-postgres' `Pool`: the same fields, `url` as `connectionString`. */
export type NormalizedPostgresConnection = Omit<PostgresConnectionOptions, 'url'> & { connectionString?: string };

const URL_SCHEME = /^postgres(?:ql)?:\/\//;

/** @throws {TypeError} when `connection` is neither a postgres:// URL nor an options object. */
export function normalizePostgresConnection(connection: PostgresConnection): NormalizedPostgresConnection {
  if (typeof connection === 'string') {
    if (!URL_SCHEME.test(connection)) {
      throw new TypeError(`Expected \`connection\` to be a postgres:// or postgresql:// URL, got ${JSON.stringify(redactPostgresUrl(connection))}`);
    }
    return { connectionString: connection };
  }
  if (typeof connection !== 'object' || connection === null) {
    throw new TypeError(`Expected \`connection\` to be a PostgreSQL URL or connection options, got ${connection === null ? 'null' : typeof connection}`);
  }
  if (connection.url !== undefined && (typeof connection.url !== 'string' || !URL_SCHEME.test(connection.url))) {
    throw new TypeError(`Expected \`connection.url\` to be a postgres:// or postgresql:// URL, got ${JSON.stringify(redactPostgresUrl(String(connection.url)))}`);
  }
  const out: NormalizedPostgresConnection = {};
  if (connection.url !== undefined) out.connectionString = connection.url;
  for (const key of ['host', 'port', 'user', 'password', 'database', 'ssl'] as const) {
    if (connection[key] !== undefined) (out as Record<string, unknown>)[key] = connection[key];
  }
  return out;
}

/** Query parameters of a PostgreSQL URL that hold secrets (libpq's and node-postgres'). */
const SECRET_PARAMS = /^(password|sslpassword|sslkey|passfile)$/i;

/**
 * A PostgreSQL URL that is safe to print: its password, and a `password` or `sslpassword` query
 * parameter, replaced by `***`. Answers `[invalid url]` for
 * something that does not parse, since it may hold a secret.
 *
 * @example redactPostgresUrl('postgres://app:s3cret@db:5432/hooks') // 'postgres://app:***@db:5432/hooks'
 */
export function redactPostgresUrl(url: string): string {
  // A PostgreSQL user name is not a secret; in some other scheme's URL it may be a token.
  return redactConnectionUrl(url, { userIsSecret: !URL_SCHEME.test(url), secretParams: SECRET_PARAMS });
}

/** Where a connection points, for logs and the CLI: never its password. */
export function describePostgresConnection(connection: NormalizedPostgresConnection): string {
  if (connection.connectionString !== undefined) return redactPostgresUrl(connection.connectionString);
  const user = connection.user === undefined ? '' : `${encodeURIComponent(connection.user)}@`;
  return `postgres://${user}${connection.host ?? 'localhost'}:${connection.port ?? 5432}/${connection.database ?? ''}`;
}
