/** Options of the retry policy. */
export interface RetryOptions {
  /**
   * Attempts per delivery, the first included; 1 means no retry.
   * @default 5
   */
  attempts?: number;
  /**
   * The delay before the first retry; it doubles for each later one.
   * @default 1000
   */
  minDelayMs?: number;
  /**
   * The longest delay between two attempts.
   * @default 60_000
   */
  maxDelayMs?: number;
}

/**
 * The delay before the attempt that follows attempt `attempt` (1-based): exponential from
 * `minDelayMs`, capped at `maxDelayMs`, with "equal jitter" (half fixed, half random) so that
 * deliveries that failed together do not all retry in the same instant.
 */
export function backoffDelay(attempt: number, minDelayMs: number, maxDelayMs: number, random = Math.random): number {
  const exponential = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
