/** Options of {@link redactConnectionUrl}. */
export interface RedactConnectionUrlOptions {
  /**
   * Whether a user name given without a password is hidden too: in many schemes (`redis://token@host`)
   * it is a token.
   * @default true
   */
  userIsSecret?: boolean;
  /** Query parameters whose values are secrets (`password`, `sslkey`...), matched by name. */
  secretParams?: RegExp;
}

/**
 * A database or queue server URL that is safe to print: its password (and a user name given alone,
 * unless `userIsSecret` is false) replaced by `***`, as are the values of `secretParams`. Answers
 * `[invalid url]` for something that does not parse, since it may hold a secret.
 *
 * @example redactConnectionUrl('redis://:s3cret@cache:6379/0') // 'redis://:***@cache:6379/0'
 */
export function redactConnectionUrl(url: string, { userIsSecret = true, secretParams }: RedactConnectionUrlOptions = {}): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '[invalid url]';
  }
  if (parsed.password !== '') parsed.password = '***';
  else if (parsed.username !== '' && userIsSecret) parsed.username = '***';
  if (secretParams === undefined) return parsed.toString();
  for (const key of [...parsed.searchParams.keys()]) {
    if (secretParams.test(key)) parsed.searchParams.set(key, '***');
  }
  return parsed.toString().replace(/=\*\*\*/g, '=***').replace(/%2A%2A%2A/g, '***');
}
