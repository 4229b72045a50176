import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const json = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as Record<string, unknown>;

describe('Express versions', () => {
  // The pipeline suite (pipeline.test.ts) runs on both majors: Express 5 as `express`, Express 4 as
  // the `express4` alias. npm refuses to install scrapehook next to an Express the peer range excludes.
  it('the express peer range admits both Express majors the suite is run on', () => {
    const range = (json('../../package.json').peerDependencies as Record<string, string>).express!;
    for (const installed of ['express', 'express4']) {
      const { version } = json(`../../node_modules/${installed}/package.json`) as { version: string };
      expect(semver.satisfies(version, range), `${installed}@${version} in ${range}`).toBe(true);
    }
    expect(semver.major((json('../../node_modules/express4/package.json') as { version: string }).version)).toBe(4);
  });
});
