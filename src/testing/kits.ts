// The built-in providers' test kits: the one list provider-neutral code looks a provider up in.
import { apifyKit } from '../providers/apify/testing.ts';
import { firecrawlKit } from '../providers/firecrawl/testing.ts';
import { standardWebhooksKit } from '../providers/standard-webhooks/testing.ts';
import { thordataKit } from '../providers/thordata/testing.ts';
import { webScraperKit } from '../providers/web-scraper/testing.ts';
import type { ProviderKit, SenderSchedule } from './kit.ts';

/** Every built-in provider's kit. */
export const providerKits: readonly ProviderKit[] = [firecrawlKit, apifyKit, thordataKit, webScraperKit, standardWebhooksKit];

/** The kit of the provider named `name` (or one of its aliases), if it is built in. */
export function kitFor(name: string): ProviderKit | undefined {
  return providerKits.find((kit) => kit.name === name || kit.aliases.includes(name));
}

/** A documented sender schedule by its `--like` name, with the kit it belongs to. */
export function senderFor(name: string): { name: string; kit: ProviderKit; schedule: SenderSchedule } | undefined {
  for (const kit of providerKits) {
    const schedule = kit.senders[name];
    if (schedule !== undefined && Object.hasOwn(kit.senders, name)) return { name, kit, schedule };
  }
  return undefined;
}

/** The `--like` names there are. */
export function senderNames(): string[] {
  return providerKits.flatMap((kit) => Object.keys(kit.senders));
}
