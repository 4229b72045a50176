// The one interface through which provider-neutral code (runEvent, `scrapehook send`) reaches a
// provider's test builder, samples and sender behaviour. Each built-in provider defines its kit in
// src/providers/<p>/testing.ts; src/testing/kits.ts lists them.
import type { TestDelivery, TokenPlacement } from './delivery.ts';

/** How a sender waits for an answer and retries, as documented: what `scrapehook send --like` reproduces. */
export interface SenderSchedule {
  /** The sender's name, e.g. `Web Scraper Cloud`. */
  readonly label: string;
  /** How long the sender waits for a whole answer, per attempt. */
  readonly timeoutMs: number;
  /** The wait before each retry, counted from the failed attempt: attempts = retries + 1. */
  readonly retryDelaysMs: readonly number[];
  /** Where the figures come from, and which of them are not confirmed. */
  readonly source: string;
  /** The same in a few words, for `scrapehook send --help`. */
  readonly note: string;
}

/** What a kit builds a delivery from: every field optional, checked against {@link ProviderKit.credentials}. */
export interface KitDeliveryInput {
  /** An event type with a sample; the kit's default type when absent. */
  type?: string;
  /** The secret a signing sender signs with. */
  secret?: string;
  /** The URL token of a sender that signs nothing (or of a Firecrawl team without a secret). */
  token?: string;
  /** Where the token goes. @default 'param' */
  tokenIn?: TokenPlacement;
  /** Where the delivery is posted. @default the builder's, e.g. `/webhooks/apify` */
  path?: string;
  /** Exact body bytes instead of the sample. */
  body?: Uint8Array;
}

/** Whether a delivery of this provider carries a secret, a token, or either (at least one). */
export type KitCredentials = 'secret' | 'token' | 'secret-or-token';

/** A provider's test builder, samples and sender behaviour, behind one interface. */
export interface ProviderKit {
  /** The provider's `name`, as `createReceiver` and `scrapehook send` call it. */
  readonly name: string;
  /** Other names `scrapehook send` accepts for it. */
  readonly aliases: readonly string[];
  /** The realistic sample bodies, by event type (empty for a sender whose types are yours). */
  readonly samples: Readonly<Record<string, unknown>>;
  /** The event type sent when none is named. */
  readonly defaultType: string;
  /** `true` when any event type can be sent (the body is built around it), not only those with a sample. */
  readonly anyType: boolean;
  readonly credentials: KitCredentials;
  /** The environment variables the demo (`npm start`) reads the credentials from. */
  readonly env: { readonly secret?: string; readonly token?: string };
  /**
   * A new delivery: a fresh delivery id each call, so two calls are two notifications and sending
   * one result twice is a retry.
   * @throws {TypeError} when a credential the provider needs is missing.
   */
  build(input: KitDeliveryInput): TestDelivery;
  /**
   * The same delivery as the sender sends it on a later attempt: the same id and body, re-signed
   * where the sender signs each attempt (Standard Webhooks' `webhook-timestamp`). Absent: resent as is.
   */
  reattempt?(delivery: TestDelivery, input: KitDeliveryInput): TestDelivery;
  /** The senders' documented timeouts and retries, by `--like` name (none when undocumented). */
  readonly senders: Readonly<Record<string, SenderSchedule>>;
  /** Why there is no schedule, when {@link senders} is empty. */
  readonly noSender?: string;
}

/**
 * `type` if the kit has a sample of it, else the default when `type` is absent.
 * @throws {TypeError} naming the types there are, when `type` has no sample.
 */
export function sampleType<T extends string>(provider: string, samples: Readonly<Record<T, unknown>>, type: string | undefined, fallback: T): T {
  if (type === undefined) return fallback;
  if (Object.hasOwn(samples, type)) return type as T;
  throw new TypeError(`Expected an event type of ${provider} (${Object.keys(samples).join(', ')}), got ${JSON.stringify(type)}`);
}

/**
 * The credential a kit's provider needs.
 * @throws {TypeError} naming the option, never a value, when it is missing.
 */
export function required(provider: string, what: 'secret' | 'token', value: string | undefined): string {
  if (value === undefined || value === '') throw new TypeError(`Expected a ${what}: ${provider} deliveries carry one`);
  return value;
}
