import { describe, expect, it } from 'vitest';
import { ImportError, type ImportErrorCode } from '../../../src/import/errors.ts';

const options = { provider: 'apify', jobId: 'run-1' };

// A bad token or a job that is gone cannot be fixed by retrying: those dead-letter at once.
describe('ImportError', () => {
  it.each<[ImportErrorCode, boolean]>([
    ['import.not.ready', true],
    ['import.truncated', true],
    ['import.unavailable', true],
    ['import.unauthorized', false],
    ['import.not.found', false],
    ['import.invalid', false],
  ])('%s: retryable %s', (code, retryable) => {
    expect(new ImportError(code, 'm', options).retryable).toBe(retryable);
  });

  it('takes an explicit retryable over the default of its code', () => {
    expect(new ImportError('import.unavailable', 'm', { ...options, retryable: false }).retryable).toBe(false);
    expect(new ImportError('import.invalid', 'm', { ...options, retryable: true }).retryable).toBe(true);
  });

  it('names the provider, job and status, and keeps a cause only when given', () => {
    const cause = new Error('ECONNRESET');
    const error = new ImportError('import.unavailable', 'Apify kept failing for run-1', { ...options, status: 503, cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'ImportError', code: 'import.unavailable', provider: 'apify', jobId: 'run-1', status: 503, cause });
    expect(error.message).toBe('Apify kept failing for run-1');
    const plain = new ImportError('import.not.found', 'gone', options);
    expect(plain.status).toBeUndefined();
    expect(plain).not.toHaveProperty('cause');
  });
});
