import type { SessionStateStore } from './session-state-store.js';

/**
 * The applications using each store object. A store is often made once, where a static module is
 * declared (`forRoot({ store: new RedisSessionStateStore({ url }) })`), and then every application
 * built from that module shares it: an e2e suite's application per test, two applications at once.
 * Each application's own provider (the measured store, one per application) joins when it starts and
 * leaves when it shuts down, only if it joined: a module Nest closes without starting it (a compiled-only
 * testing module) never counts (review R20). The first to join opens the store, the last to leave closes it.
 */
const users = new WeakMap<SessionStateStore, number>();

/**
 * An application starts using `store`: it is counted, then opened (`init`, idempotent). Counted
 * first: an application leaving while `init` runs must not close the store under this one; the
 * count is undone if `init` fails.
 */
export async function joinStore(store: SessionStateStore): Promise<void> {
  users.set(store, (users.get(store) ?? 0) + 1);
  try {
    await store.init?.();
  } catch (error) {
    const left = (users.get(store) ?? 1) - 1;
    if (left > 0) users.set(store, left);
    else users.delete(store);
    throw error;
  }
}

/** An application that joined shuts down: the last one closes the store. */
export async function leaveStore(store: SessionStateStore): Promise<void> {
  const left = (users.get(store) ?? 1) - 1;
  if (left > 0) return void users.set(store, left);
  users.delete(store);
  await store.close?.();
}
