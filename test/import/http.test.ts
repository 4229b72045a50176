import { afterEach, describe, expect, it } from 'vitest';
import { ImportError } from '../../src/import/errors.ts';
import { httpOpen, httpText, parseRetryAfter, retryDownload, openOnce, type HttpCall } from '../../src/import/http.ts';
import { webScraperApiMock, type WebScraperApiMock } from '../../src/testing/index.ts';
import { receivedRequests } from '../helpers/mock-requests.ts';
import { recorder } from '../helpers/recorder.ts';

const token = 'wsc-secret-token-123';
let api: WebScraperApiMock | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});


const call = (path: string, extra: Partial<HttpCall> = {}): HttpCall => ({
  provider: 'webscraper',
  jobId: '7',
  what: 'read the job',
  url: `${api!.apiUrl}${path}?api_token=${token}`,
  retry: { minDelayMs: 1, maxDelayMs: 5, stallTimeoutMs: 200 },
  ...extra,
});

describe('import http', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000 + 5000).toUTCString(), 10_000)).toBe(5000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('retries 429 (honouring Retry-After over a long backoff) and 5xx inside the call', async () => {
    api = await webScraperApiMock({
      token,
      jobs: [{ id: 7, rows: [{ a: 1 }] }],
      faults: [
        { path: '/scraping-job/7', requests: 1, fault: { kind: 'status', status: 429, retryAfter: 1 } },
        { path: '/scraping-job/7', requests: [2, 3], fault: { kind: 'status', status: 503 } },
      ],
    });
    const { logger, lines } = recorder();
    const started = Date.now();
    const res = await httpText(call('scraping-job/7', { logger, retry: { minDelayMs: 1, maxDelayMs: 5, maxWaitMs: 5000 } }));
    expect(JSON.parse(res.text)).toMatchObject({ success: true, data: { id: 7 } });
    expect(api.requests).toHaveLength(4);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // the Retry-After second, not the 1-5 ms backoff
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('fails a Retry-After longer than maxWaitMs at once as a retryable import.unavailable', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7 }], faults: [{ path: '/scraping-job/7', fault: { kind: 'status', status: 429, retryAfter: 600 } }] });
    const error = await httpText(call('scraping-job/7')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect(error).toMatchObject({ code: 'import.unavailable', retryable: true, status: 429 });
    expect(api.requests).toHaveLength(1);
  });

  it('maps 401 and 404 to non-retried ImportErrors whose message names provider and job, never the token', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7 }] });
    const { logger, lines } = recorder();
    const bad = await httpText({ ...call('scraping-job/7', { logger }), url: `${api.apiUrl}scraping-job/7?api_token=wrong-${token}` }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'import.unauthorized', retryable: false, status: 401, provider: 'webscraper', jobId: '7' });
    expect((bad as Error).message).toMatch(/webscraper.*job 7.*api_token=\[redacted\]/);
    expect((bad as Error).message).not.toContain(token);
    const gone = await httpText(call('scraping-job/99', { logger })).catch((e: unknown) => e);
    expect(gone).toMatchObject({ code: 'import.not.found', retryable: false, status: 404 });
    expect(api.requests).toHaveLength(2);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('keeps the token out of network errors, whose text may quote the URL', async () => {
    const { logger, lines } = recorder();
    const bad = await httpText({ provider: 'thordata', jobId: 't1', what: 'download the file', url: `http://bad host/file.json?api_token=${token}`, logger }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'import.invalid', retryable: false }); // not retried: it cannot get better
    const refused = await httpText({ provider: 'thordata', jobId: 't1', what: 'download the file', url: `http://127.0.0.1:1/file.json?sign=${token}`, logger, retry: { attempts: 2, minDelayMs: 1, maxDelayMs: 1 } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'import.unavailable', retryable: true });
    const text = [bad, refused].flatMap((e) => [(e as Error).message, (e as Error).stack, String((e as Error).cause)]).concat(lines).join('\n');
    expect(text).toMatch(/not valid.*network error/s);
    expect(text).not.toContain(token);
  });

  it('gives up after `attempts` with import.unavailable', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7 }], faults: [{ path: '/scraping-job/7', fault: { kind: 'status', status: 502 } }] });
    const error = await httpOpen(call('scraping-job/7', { retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 } })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'import.unavailable', retryable: true, status: 502 });
    expect(api.requests).toHaveLength(3);
  });

  it('aborts a stalled body after stallTimeoutMs and downloads again', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ i }));
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows }], faults: [{ path: '/json', requests: 1, fault: { kind: 'stall' } }] });
    const c = call('scraping-job/7/json');
    let best = 0;
    const texts: string[] = [];
    for await (const text of retryDownload(c, async function* () {
      const res = await openOnce(c);
      const parts: Uint8Array[] = [];
      for await (const chunk of res.chunks()) parts.push(chunk);
      best = Math.max(best, res.bytes);
      yield Buffer.concat(parts).toString();
    }, () => false)) texts.push(text);
    expect(texts).toHaveLength(1);
    expect(texts[0]!.trim().split('\n')).toHaveLength(50);
    expect(api.requests).toHaveLength(2);
  });

  it('honours the signal promptly, during a backoff and during a stalled body', async () => {
    api = await webScraperApiMock({ token, jobs: [{ id: 7, rows: [{ a: 1 }] }], faults: [{ path: '/json', fault: { kind: 'stall' } }, { path: '/scraping-job/7', fault: { kind: 'status', status: 500 } }] });
    const controller = new AbortController();
    const waiting = httpText(call('scraping-job/7', { signal: controller.signal, retry: { minDelayMs: 60_000, maxDelayMs: 60_000 } })).catch((e: unknown) => e);
    const stalled = httpText(call('scraping-job/7/json', { signal: controller.signal, retry: { stallTimeoutMs: 60_000 } })).catch((e: unknown) => e);
    await receivedRequests(api, 2);
    controller.abort(new Error('closing'));
    expect(await waiting).toMatchObject({ message: 'closing' });
    expect(await stalled).toMatchObject({ message: 'closing' });
  });
});
