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
