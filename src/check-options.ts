/**
 * Checks a factory got an options object, or throws ``TypeError("Expected options with <needs>, got
 * null")`` (`needs` says what the options must hold: "a `connection`").
 */
export function requireOptions(options: unknown, needs: string): asserts options is object {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected options with ${needs}, got ${options === null ? 'null' : typeof options}`);
  }
}

/** Checks an option is a positive integer, or throws ``TypeError("Expected `name` to be ...")``. */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Checks an option is a non-negative integer, or throws a TypeError naming it. */
export function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a `baseUrl` option is an absolute http(s) URL (`localhost:3002` parses as a URL of scheme
 * `localhost:`), or throws a TypeError naming it; returns it without trailing slashes.
 */
export function baseUrlOption(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // said below
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') throw new TypeError(`Expected \`baseUrl\` to be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, '');
}
