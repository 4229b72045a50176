import { describe, expect, it } from 'vitest';
import { isUnavailable } from '../../../src/queue/postgres-queue.ts';
import { describePostgresConnection, normalizePostgresConnection, redactPostgresUrl } from '../../../src/queue/postgres/connection.ts';
import { checkSchema, toSerializedError } from '../../../src/queue/postgres/jobs.ts';

describe('PostgreSQL connections', () => {
  it('takes a postgres:// or postgresql:// URL, or options, and nothing else', () => {
    expect(normalizePostgresConnection('postgres://u:p@h:5433/db')).toEqual({ connectionString: 'postgres://u:p@h:5433/db' });
    expect(normalizePostgresConnection({ host: 'h', port: 5433, user: 'u', password: 'p', database: 'db', ssl: true })).toEqual({ host: 'h', port: 5433, user: 'u', password: 'p', database: 'db', ssl: true });
    expect(normalizePostgresConnection({ url: 'postgresql://h/db', password: 'p' })).toEqual({ connectionString: 'postgresql://h/db', password: 'p' });
    expect(() => normalizePostgresConnection('mysql://u:s3cret@h/db')).toThrow(TypeError);
    expect(() => normalizePostgresConnection('mysql://u:s3cret@h/db')).not.toThrow(/s3cret/);
    expect(() => normalizePostgresConnection(null as unknown as string)).toThrow(/null/);
  });

  it('describes where it points without the password, from a URL or from options', () => {
    expect(redactPostgresUrl('postgres://app:s3cret@db:5432/hooks')).toBe('postgres://app:***@db:5432/hooks');
    expect(redactPostgresUrl('postgres://db/hooks?password=s3cret&sslpassword=k3y&sslmode=require')).toBe('postgres://db/hooks?password=***&sslpassword=***&sslmode=require');
    expect(redactPostgresUrl('s3cret')).toBe('[invalid url]');
    expect(describePostgresConnection({ host: 'db', user: 'app', password: 's3cret', database: 'hooks' })).toBe('postgres://app@db:5432/hooks');
  });
});

describe('isUnavailable (503 rather than 500)', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }, true],
    [{ code: '08006' }, true], // connection failure
    [{ code: '28P01' }, true], // password authentication failed
    [{ code: '57P01' }, true], // admin shutdown
    [{ code: '53300' }, true], // too many connections
    [new Error('Connection terminated unexpectedly'), true],
    [new Error('timeout exceeded when trying to connect'), true],
    [new AggregateError([{ code: 'ECONNREFUSED' }]), true],
    [{ code: '23505' }, false], // a unique violation is our fault
    [{ code: '42P01' }, false], // undefined table
    [new Error('boom'), false],
    [undefined, false],
  ])('%j → %s', (error, expected) => {
    expect(isUnavailable(error)).toBe(expected);
  });
});

describe('PostgreSQL job rows', () => {
  it('accepts only plain names as a schema (it is spliced into SQL)', () => {
    expect(checkSchema('scrapehook_2')).toBe('scrapehook_2');
    for (const bad of ['a;drop', '1abc', 'a"b', '', 'x'.repeat(51)]) expect(() => checkSchema(bad)).toThrow(TypeError);
  });

  it("reads a dead letter's error from our output or from pg-boss' own", () => {
    expect(toSerializedError({ type: 'handler.timeout', message: 'slow', stack: 's' })).toEqual({ type: 'handler.timeout', message: 'slow', stack: 's' });
    expect(toSerializedError({ value: { message: 'job failed by timeout in active state' } })).toEqual({
      type: 'handler.failed',
      message: 'The worker running it stopped (its lease expired)',
    });
    expect(toSerializedError(null)).toEqual({ type: 'handler.failed', message: 'unknown error' });
  });
});
