// What only postgresQueue() checks of its options; its behaviour on PostgreSQL, shared with
// bullmqQueue(), is in distributed-queue.test.ts.
import { describe, expect, it } from 'vitest';
import { postgresQueue } from '../../src/queue/postgres-queue.ts';
import { redactPostgresUrl } from '../../src/queue/postgres/connection.ts';

describe('postgresQueue() options', () => {
  it('throws a TypeError for a bad name, schema, maintenance interval or pool size', () => {
    expect(() => postgresQueue({ connection: 'postgres://h', name: 'a b' })).toThrow(/name/);
    expect(() => postgresQueue({ connection: 'postgres://h', schema: 'a;drop' })).toThrow(/schema/);
    expect(() => postgresQueue({ connection: 'postgres://h', maintenanceIntervalMs: 1500 })).toThrow(/maintenanceIntervalMs/);
    expect(() => postgresQueue({ connection: 'postgres://h', poolSize: 0 })).toThrow(/poolSize/);
  });

  it('never shows a PostgreSQL password, in the URL or its query, in an error message or a URL it prints', () => {
    expect(() => postgresQueue({ connection: { url: 'mysql://u:s3cret@h' } })).toThrow(TypeError);
    expect(() => postgresQueue({ connection: { url: 'mysql://u:s3cret@h' } })).not.toThrow(/s3cret/);
    expect(redactPostgresUrl('postgres://app:s3cret@db:5432/hooks')).toBe('postgres://app:***@db:5432/hooks');
    expect(redactPostgresUrl('postgresql://app@db/hooks?sslmode=require&password=s3cret')).toBe('postgresql://app@db/hooks?sslmode=require&password=***');
    expect(redactPostgresUrl('not a url s3cret')).toBe('[invalid url]');
  });
});
