/**
 * Which errors came out of a call of the store, and what each must not show (its session id, or
 * owner). The measured store records every failing call here; the error catalog reads it (a store's
 * text never reaches a client), the failure log redacts by it.
 */
const secretsOfErrors = new WeakMap<object, readonly string[]>();

/** Records that `error` came out of a store call, and the values it must not show in a log line. */
export function recordStoreError(error: unknown, secrets: readonly string[]): void {
  if (typeof error !== 'object' || error === null) return;
  secretsOfErrors.set(error, [...(secretsOfErrors.get(error) ?? []), ...secrets.filter(Boolean)]);
}

/** Whether an error came out of a call of the store (any error of a custom store included). */
export function isStoreError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && secretsOfErrors.has(error);
}

/** The values recorded for `error` (see `recordStoreError`). */
export function secretsOfStoreError(error: object): readonly string[] {
  return secretsOfErrors.get(error) ?? [];
}
