/**
 * The compile-time shape of session data. Values are JSON data, checked at `set()` (see
 * `session-value.validator.ts`); these types exclude at compile time what they can.
 */

/**
 * The data of every session of the application, typed once by augmenting this interface:
 *
 *   declare module 'nestjs-session-state' {
 *     interface SessionStateData { user: { id: string; name: string }; cart: CartItem[] }
 *   }
 *
 * `@Session() s: HttpSessionState` is then typed without a type argument. Left empty (not
 * augmented), a session takes any string key with `JsonValue` values.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface, @typescript-eslint/no-empty-object-type
export interface SessionStateData {}

export type JsonPrimitive = string | number | boolean | null;
/** A value that JSON holds faithfully. (Non-finite numbers are not, and are refused at `set()`.) */
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue | undefined };

/**
 * `T` where it is JSON data, `never` where it is not (Date, Map, Set, bigint, functions,
 * symbols, class instances with methods): a session field typed `{ at: Date }` cannot be `set()`.
 * Optional properties stay allowed (`undefined` properties are dropped, as JSON does).
 */
export type JsonSafe<T> = T extends JsonPrimitive
  ? T
  : T extends
        | bigint
        | symbol
        | undefined
        | ((...args: never[]) => unknown)
        | Date
        | RegExp
        | ReadonlyMap<unknown, unknown>
        | ReadonlySet<unknown>
        | Promise<unknown>
    ? never
    : T extends readonly unknown[]
      ? { [I in keyof T]: JsonSafe<T[I]> }
      : T extends object
        ? { [K in keyof T]: K extends string ? JsonSafe<T[K]> : never }
        : never;

/** True when `TData` declares no key: the session is untyped. */
type IsUntyped<TData> = [keyof TData] extends [never] ? true : false;

/** The keys of a session: `TData`'s string keys, or any string for an untyped session. */
export type SessionKey<TData> = IsUntyped<TData> extends true ? string : keyof TData & string;

/** The value type stored under `K`: `TData[K]`, or `JsonValue` for an untyped session. */
export type SessionValue<TData, K> = IsUntyped<TData> extends true ? JsonValue : K extends keyof TData ? TData[K] : never;

/** What `set(key, value)` takes: `JsonValue` for an untyped session; `TData[K]` where it is JSON data otherwise. */
export type SessionInput<TData, K> = IsUntyped<TData> extends true ? JsonValue : K extends keyof TData ? JsonSafe<TData[K]> : never;
