import { match, parse, type Token } from 'path-to-regexp';
import type { RouteMatcher } from './handle-request.ts';

/** Express 5's route matching (path-to-regexp 8, case-insensitive, trailing slash allowed) for `nodeHandler({ path })`. */
export function routeMatcher(path: unknown): RouteMatcher {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`Expected \`path\` to be a path starting with /, such as '/webhooks/apify/:token', got ${JSON.stringify(path)}`);
  }
  let tokens: Token[];
  try {
    tokens = parse(path).tokens;
  } catch (error) {
    throw new TypeError(`Expected \`path\` to be a route path such as '/webhooks/apify/:token', got ${JSON.stringify(path)}: ${(error as Error).message}`);
  }
  const hasWildcard = (list: Token[]): boolean => list.some((t) => t.type === 'wildcard' || (t.type === 'group' && hasWildcard(t.tokens)));
  if (hasWildcard(tokens)) {
    throw new TypeError(`Expected \`path\` without wildcards (a token is one segment: use :name), got ${JSON.stringify(path)}`);
  }
  // As Express: a trailing slash on the mount path is ignored, and parameters are percent-decoded.
  const matches = match<Record<string, string>>(path === '/' ? path : path.replace(/\/+$/, ''), {
    sensitive: false,
    end: true,
    trailing: true,
    decode: (value) => (value.includes('%') ? decodeURIComponent(value) : value),
  });
  return (requestPath) => {
    try {
      const result = matches(requestPath);
      return result === false ? undefined : (result.params as Record<string, string>);
    } catch {
      // A parameter that is not valid percent-encoding (Express answers 400): not this route.
      return undefined;
    }
  };
}
