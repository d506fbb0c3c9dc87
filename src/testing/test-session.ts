import { assertNotReservedKey, HttpSessionState } from '../session/http-session-state.js';
import type { SessionInput, SessionKey, SessionStateData } from '../session/session-data.js';
import { generateSessionId } from '../session/session-id.js';
import { assertTimeoutMinutes } from '../session/session-limits.js';
import { assertSessionValue } from '../session/session-value.validator.js';

/** Session data as a test gives it: some of `TData`'s keys (any JSON for an untyped session). */
export type TestSessionData<TData extends object = SessionStateData> = { [K in SessionKey<TData>]?: SessionInput<TData, K> };

export interface TestSessionOptions {
  /** Default: a new random id. */
  id?: string;
  /** Default `false` (a stored session). */
  isNew?: boolean;
  /** A read-only session (`@SessionState(SessionStateBehavior.ReadOnly)`): writes throw `SessionStateReadOnlyError`, nested ones included. Default `false`. */
  readOnly?: boolean;
  /** Minutes. Default 20. */
  timeout?: number;
}

/**
 * An `HttpSessionState` holding `data`, for a unit test of a handler:
 *
 *   const session = createTestSession<CartData>({ cart: [] });
 *   controller.add(session, { sku: 'a', qty: 1 });
 *   expect(session.get('cart')).toEqual([{ sku: 'a', qty: 1 }]);
 *
 * Keys, values and the timeout are checked as `set()` and `session.timeout` check them.
 */
export function createTestSession<TData extends object = SessionStateData>(
  data: TestSessionData<TData> = {},
  options: TestSessionOptions = {},
): HttpSessionState<TData> {
  const timeout = options.timeout ?? 20;
  assertTimeoutMinutes(timeout);
  return new HttpSessionState<TData>({
    id: options.id ?? generateSessionId(),
    items: serializeTestData(data),
    isNew: options.isNew ?? false,
    isReadOnly: options.readOnly ?? false,
    timeout,
  });
}

/** @internal The data as the store keeps it, each key and value checked as `set()` checks them. */
export function serializeTestData(data: object): string {
  for (const [key, value] of Object.entries(data)) {
    // A reserved key would be read back as module state (the cookie's lifetime), not as data.
    assertNotReservedKey(key);
    if (value !== undefined) assertSessionValue(key, value);
  }
  return JSON.stringify(data);
}
