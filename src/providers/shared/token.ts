import { secretToken, type SecretTokenOptions } from '../../verify/secret-token.ts';
import type { Verifier } from '../../types.ts';
import { requireOptions } from '../../check-options.ts';

/** Where a secret token is read from: any of the places named may carry it. */
export type TokenLocation = Pick<SecretTokenOptions, 'param' | 'query' | 'header' | 'scheme'>;

/** The token options shared by the providers that authenticate with a secret token. */
export interface TokenOptions {
  /** The secret token you put in the webhook URL (or in a header through the headers template). */
  token?: string;
  /** Several accepted tokens, any of which may match: for rotation. */
  tokens?: readonly string[];
  /**
   * Where the token is read from. Naming a place replaces the default entirely, so
   * `{ header: 'x-webhook-token' }` accepts the token in that header only.
   */
  tokenFrom?: TokenLocation;
}

/** Builds the token verifier, checking the options the way every factory reports misconfiguration. */
export function tokenVerifier(options: TokenOptions, defaults: TokenLocation): Verifier {
  requireOptions(options, 'a `token`');
  if (options.token !== undefined && typeof options.token !== 'string') {
    // Never echo the value: a misplaced secret of another kind is still a secret.
    throw new TypeError(`Expected \`token\` to be a string, got ${typeof options.token}`);
  }
  const from = options.tokenFrom ?? defaults;
  if (typeof from !== 'object' || from === null) throw new TypeError(`Expected \`tokenFrom\` to be an object, got ${typeof from}`);
  return secretToken({ token: options.token, tokens: options.tokens, ...from });
}
