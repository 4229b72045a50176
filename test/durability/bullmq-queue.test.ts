// What only bullmqQueue() checks of its options; its behaviour on Redis, shared with
// postgresQueue(), is in distributed-queue.test.ts.
import { describe, expect, it } from 'vitest';
import { bullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { redactRedisUrl } from '../../src/queue/bullmq/connection.ts';

describe('bullmqQueue() options', () => {
  it('throws a TypeError for a name with ":" or a negative maxStalledCount; a URL that only looks odd is for Redis to judge', () => {
    expect(() => bullmqQueue({ connection: 'redis://u:s3cret@h:1/0 oops' })).not.toThrow();
    expect(() => bullmqQueue({ connection: 'redis://h', name: 'a:b' })).toThrow(/name/);
    expect(() => bullmqQueue({ connection: 'redis://h', maxStalledCount: -1 })).toThrow(/maxStalledCount/);
  });

  it('hides a Redis password, or a user name given alone (a token), in a URL it prints', () => {
    expect(redactRedisUrl('redis://:s3cret@cache:6380/2')).toBe('redis://:***@cache:6380/2');
    expect(redactRedisUrl('redis://token@cache')).toBe('redis://***@cache');
    expect(redactRedisUrl('not a url s3cret')).toBe('[invalid url]');
  });
});
