export type { BodyFault, MockFault, MockRows, MockServer, RecordedRequest, StatusFault } from './core.ts';
export { webScraperApiMock, type WebScraperApiMock, type WebScraperApiMockOptions, type WebScraperMockJob, type WebScraperRecord } from './web-scraper.ts';
export { apifyApiMock, type ApifyApiMock, type ApifyApiMockOptions, type ApifyItem, type ApifyMockRecord } from './apify.ts';
export { thordataApiMock, type ThordataApiMock, type ThordataApiMockOptions, type ThordataCodeFault, type ThordataMockTask, type ThordataRecord } from './thordata.ts';
export { firecrawlApiMock, type FirecrawlApiMock, type FirecrawlApiMockOptions, type FirecrawlMockDocument, type FirecrawlMockJob } from './firecrawl.ts';
