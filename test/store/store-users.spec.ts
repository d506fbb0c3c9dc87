/**
 * The count of applications using one store object: an application that joins is counted before the
 * store's `init` finishes, so one leaving meanwhile does not close the store under it; a failed
 * `init` leaves no count behind.
 */
import { joinStore, leaveStore } from '../../src/store/store-users.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';

/** A store whose `init` answers the promise `nextInit` holds, and which records its closes. */
function heldStore() {
  const store = {
    closes: 0,
    nextInit: Promise.resolve(),
    init: () => store.nextInit,
    close: async () => {
      store.closes++;
    },
  };
  return store;
}

describe('joinStore / leaveStore', () => {
  it('an application leaving while another one’s init is pending does not close the store under it', async () => {
    const store = heldStore();
    const typed = store as unknown as SessionStateStore;
    await joinStore(typed);
    let resolve!: () => void;
    store.nextInit = new Promise<void>((done) => (resolve = done));
    const joining = joinStore(typed);
    await leaveStore(typed);
    expect(store.closes).toBe(0);
    resolve();
    await joining;
    await leaveStore(typed);
    expect(store.closes).toBe(1);
  });

  it('an init that fails is not counted: the next application to leave closes the store', async () => {
    const store = heldStore();
    const typed = store as unknown as SessionStateStore;
    store.nextInit = Promise.reject(new Error('table missing'));
    await expect(joinStore(typed)).rejects.toThrow('table missing');
    store.nextInit = Promise.resolve();
    await joinStore(typed);
    await leaveStore(typed);
    expect(store.closes).toBe(1);
  });
});
