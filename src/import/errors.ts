/** Why an import failed. Stable: switch on this, not on the message. */
export type ImportErrorCode =
  /** The API refused the token (401/403): fix the API token, then replay the dead letter. */
  | 'import.unauthorized'
  /** The job, dataset, task or file is gone (404, expired retention, deleted job). */
  | 'import.not.found'
  /** The job's results are not ready yet (e.g. Thordata's task still running). Retried. */
  | 'import.not.ready'
  /** The download ended early or did not parse at its end, every retry included. */
  | 'import.truncated'
  /** The API kept answering 429, 5xx or failing on the network until the retries ran out. */
  | 'import.unavailable'
  /** The API answered something the source cannot read (not the documented format). */
  | 'import.invalid';

/**
 * An import failed. The message names the provider, the job and what to do; it never holds an API
 * token or a URL with one. `retryable` is false when retrying cannot help (bad token, job gone):
 * the delivery then becomes a dead letter at once, which `replay` can run again once fixed.
 */
export class ImportError extends Error {
  override readonly name = 'ImportError';
  readonly code: ImportErrorCode;
  /** The provider's name (`webscraper`, `apify`, `thordata`, `firecrawl`). */
  readonly provider: string;
  /** The job (dataset, task) id the import was for. */
  readonly jobId: string;
  /** The HTTP status the API answered with, when one caused this. */
  readonly status: number | undefined;
  /** Whether a later attempt may succeed. */
  readonly retryable: boolean;

  constructor(
    code: ImportErrorCode,
    message: string,
    options: { provider: string; jobId: string; status?: number; retryable?: boolean; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.provider = options.provider;
    this.jobId = options.jobId;
    this.status = options.status;
    this.retryable = options.retryable ?? (code === 'import.not.ready' || code === 'import.truncated' || code === 'import.unavailable');
  }
}
