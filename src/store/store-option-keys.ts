/**
 * A store's constructor options are often built outside an object literal (from configuration, in
 * JavaScript, or kept from connect-redis / connect-dynamodb), where TypeScript's excess-property check
 * does not reach: an option under another store's name was silently ignored (sessions under another
 * prefix, in another table; review R40). Refused at construction, naming where it went.
 */
export function refuseUnknownOptions(store: string, options: unknown, known: readonly string[], movedTo: Readonly<Record<string, string>>): void {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`${store}: options must be an object (or left out), not ${options === null ? 'null' : typeof options}.`);
  const keys: string[] = [];
  // Inherited keys too (options made with Object.create(defaults)): the store reads them as own ones
  // (review R41). A key left undefined (an optional configuration value not set) or an inherited method
  // changes nothing, and is let be (review R42).
  for (const key in options) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && !(typeof value === 'function' && !Object.hasOwn(options, key))) keys.push(key);
  }
  const unknown = keys.filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const named = unknown.map((key) => (Object.hasOwn(movedTo, key) ? `${key} (${movedTo[key]})` : key));
  throw new TypeError(`${store}: unknown option${unknown.length > 1 ? 's' : ''} ${named.join(', ')}. Its options: ${known.join(', ')}.`);
}

/** A boolean option, or its default when absent (a string 'false' from configuration is refused, not taken as true). */
export function booleanOption(store: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${store}: ${name} must be true or false (got ${typeof value}).`);
  return value;
}
