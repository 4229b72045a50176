/** Normalizes `secret` / `secrets` options into a non-empty list, or throws a TypeError. */
export function secretList<T extends string | Uint8Array>(
  name: string,
  one: T | undefined,
  many: readonly T[] | undefined,
): T[] {
  const list = [...(one === undefined ? [] : [one]), ...(many ?? [])];
  if (list.length === 0) {
    throw new TypeError(`Expected \`${name}\` or \`${name}s\` to be set, got neither`);
  }
  for (const value of list) {
    if (typeof value === 'string' ? value.length === 0 : !(value instanceof Uint8Array) || value.length === 0) {
      throw new TypeError(`Expected every \`${name}\` to be a non-empty string, got an empty or non-string value`);
    }
  }
  return list;
}
