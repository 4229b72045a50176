import { inspect } from 'node:util';

/** An error as ioredis and BullMQ build them: the failed command, connection options, earlier errors. */
export function redisLikeError(): Error {
  const reply = Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), {
    name: 'ReplyError',
    command: { name: 'auth', args: ['hunter2'] },
  });
  const body = Buffer.from('{"secret":"BODY-BYTES"}');
  const error = Object.assign(new Error('Connection to redis://app:hunter2@cache:6379 failed (password=hunter2)', { cause: reply }), {
    code: 'ECONNREFUSED',
    errno: -111,
    command: { name: 'evalsha', args: ['sha', 1, 'key', body] },
    args: [body],
    options: { host: 'cache', password: 'hunter2' },
    previousErrors: [reply],
    lastNodeError: reply,
  });
  return error;
}

/** Everything a value shows when logged, serialized or inspected, hidden properties included. */
export function everything(value: unknown): string {
  return `${JSON.stringify(value)}\n${inspect(value, { depth: Infinity, showHidden: true, maxStringLength: Infinity })}`;
}
