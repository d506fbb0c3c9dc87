import { InMemorySessionStateStore, type OwnerCapPolicy, type OwnerSlotClaim } from '../../src/index.js';
import { generateSessionId } from '../../src/session/session-id.js';

/*
 * The owner's book (store/owner-slots.ts) on the in-memory store, with its clock moved by hand: what
 * counts (live sessions, and places whose save may be under way), what goes (sessions found gone once
 * past pendingMs), what is revoked (the oldest), and a place given back.
 */
describe('claimOwnerSlot (the in-memory store)', () => {
  let now = 1_000_000;
  let store: InMemorySessionStateStore;
  beforeEach(() => {
    now = 1_000_000;
    store = new InMemorySessionStateStore({ clock: () => now });
  });
  afterEach(() => store.close());

  const claim = (id: string, policy: OwnerCapPolicy, extra: Partial<OwnerSlotClaim> = {}) =>
    store.claimOwnerSlot({ owner: 'ann', id, max: 2, policy, pendingMs: 1000, ...extra });

  /** A session of `owner` as a sign-in saves it: the place first, then the record. */
  async function signIn(policy: OwnerCapPolicy, owner = 'ann'): Promise<string> {
    const id = generateSessionId();
    expect(await store.claimOwnerSlot({ owner, id, max: 2, policy, pendingMs: 1000 })).toMatchObject({ admitted: true });
    await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner }, null, true);
    return id;
  }

  it('refuses a third live session; a place taken but not saved counts until pendingMs has passed, then goes', async () => {
    await signIn('refuse');
    now += 1;
    const unsaved = generateSessionId();
    expect(await claim(unsaved, 'refuse')).toEqual({ admitted: true, revoked: 0 });
    expect(await claim(generateSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
    now += 1000; // the unsaved place's save can no longer be under way
    expect(await claim(generateSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
  });

  it('a place given back is free at once; claiming again for the same id takes no second place', async () => {
    const a = await signIn('refuse');
    const b = generateSessionId();
    expect(await claim(b, 'refuse')).toMatchObject({ admitted: true });
    expect(await claim(b, 'refuse')).toMatchObject({ admitted: true });
    expect(await claim(a, 'refuse')).toMatchObject({ admitted: true });
    await store.releaseOwnerSlot('ann', b);
    expect(await claim(generateSessionId(), 'refuse')).toMatchObject({ admitted: true });
  });

  it("revoke-oldest revokes the earliest sign-in, and only the owner's; a session moving to a new id does not count itself", async () => {
    const first = await signIn('revoke-oldest');
    now += 10;
    const second = await signIn('revoke-oldest');
    now += 10;
    const other = await signIn('revoke-oldest', 'bob');
    now += 10;
    // The second session regenerates its id: its old id is not counted against it.
    const moved = generateSessionId();
    expect(await claim(moved, 'revoke-oldest', { replacing: second })).toEqual({ admitted: true, revoked: 0 });
    // The move, as the lifecycle completes it: the new record, the old one removed, its place given back.
    await store.setAndReleaseItemExclusive(moved, { items: '{}', timeout: 20, owner: 'ann' }, null, true);
    const held = await store.getItemExclusive(second);
    await store.removeItem(second, held.kind === 'acquired' ? held.lockId : '', { moved: true });
    await store.releaseOwnerSlot('ann', second);
    now += 10;
    expect(await claim(generateSessionId(), 'revoke-oldest')).toEqual({ admitted: true, revoked: 1 });
    expect((await store.getItem(first)).kind).toBe('absent');
    expect((await store.getItem(moved)).kind).toBe('loaded');
    expect((await store.getItem(other)).kind).toBe('loaded');
  });

  it('sessions that expired, ended or changed owner free their places (found at the cap)', async () => {
    const a = await signIn('refuse');
    const b = await signIn('refuse');
    now += 1000;
    const lock = await store.getItemExclusive(a);
    await store.setAndReleaseItemExclusive(a, { items: '{}', timeout: 20 }, lock.kind === 'acquired' ? lock.lockId : null, false);
    const lockB = await store.getItemExclusive(b);
    await store.removeItem(b, lockB.kind === 'acquired' ? lockB.lockId : '');
    expect(await claim(generateSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
    expect(await claim(generateSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
    expect(await claim(generateSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
    now += 21 * 60_000; // the two places above were never saved, and the first two sessions expired: all go
    expect(await claim(generateSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
  });

  it('revoke-oldest waits while the book is full of saves under way, then revokes the oldest once they land (not a 409)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      const first = generateSessionId();
      const second = generateSessionId();
      expect(await claim(first, 'revoke-oldest')).toMatchObject({ admitted: true });
      now += 1;
      expect(await claim(second, 'revoke-oldest')).toMatchObject({ admitted: true });
      // Both places taken, neither saved yet: nothing can be revoked, so the third claim waits (a timer).
      const third = claim(generateSessionId(), 'revoke-oldest');
      await vi.waitFor(() => expect(vi.getTimerCount()).toBe(1));
      for (const id of [first, second]) await store.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner: 'ann' }, null, true);
      await vi.runOnlyPendingTimersAsync();
      expect(await third).toEqual({ admitted: true, revoked: 1 });
      expect((await store.getItem(first)).kind).toBe('absent');
      expect((await store.getItem(second)).kind).toBe('loaded');
    } finally {
      vi.useRealTimers();
    }
  });

  it('a session past absoluteMs frees its place at once (its save landed: it is not a save under way)', async () => {
    const old = await signIn('refuse');
    await signIn('refuse');
    now += 60_000;
    expect(await claim(generateSessionId(), 'refuse', { absoluteMs: 60_000 })).toEqual({ admitted: false, live: 2 });
    const held = await store.getItemExclusive(old);
    if (held.kind !== 'acquired') throw new Error(held.kind);
    await store.setAndReleaseItemExclusive(old, { ...held.item, created: now - 60_000 }, held.lockId, false);
    expect(await claim(generateSessionId(), 'refuse', { absoluteMs: 60_000 })).toEqual({ admitted: true, revoked: 0 });
  });

  it("the sweep forgets an owner's book once its sessions are gone and no save can be under way", async () => {
    const books = () => (store as unknown as { slots: Map<string, unknown> }).slots;
    const id = await signIn('refuse');
    const unsaved = generateSessionId();
    expect(await claim(unsaved, 'refuse')).toMatchObject({ admitted: true });
    store.sweep();
    expect(books().has('ann')).toBe(true);
    now += 21 * 60_000; // the session expired; the unsaved place is far past pendingMs
    store.sweep();
    expect((await store.getItem(id)).kind).toBe('absent');
    expect(books().has('ann')).toBe(false);
  });

  it('a move whose new record landed but whose old one is not removed yet counts once; revoke-oldest then takes an older device, not half of it', async () => {
    const first = await signIn('revoke-oldest');
    now += 10;
    const second = await signIn('revoke-oldest');
    now += 10;
    const moved = generateSessionId();
    expect(await claim(moved, 'revoke-oldest', { replacing: first })).toEqual({ admitted: true, revoked: 0 });
    await store.setAndReleaseItemExclusive(moved, { items: '{}', timeout: 20, owner: 'ann' }, null, true);
    now += 10;
    // first and moved are both stored (the move's removal of first is still to come): one device, signed in again last.
    expect(await claim(generateSessionId(), 'revoke-oldest')).toEqual({ admitted: true, revoked: 1 });
    const kinds = await Promise.all([first, moved, second].map(async (id) => (await store.getItem(id)).kind));
    expect(kinds).toEqual(['loaded', 'loaded', 'absent']);
  });

  it("the moves' book is dropped with its entries: a sweep past pendingMs leaves neither", async () => {
    const moves = () => (store as unknown as { slotMoves: Map<string, Map<string, string>> }).slotMoves;
    const first = await signIn('refuse');
    const moved = generateSessionId();
    expect(await claim(moved, 'refuse', { replacing: first })).toEqual({ admitted: true, revoked: 0 });
    expect(moves().get('ann')).toEqual(new Map([[moved, first]]));
    now += 21 * 60_000; // first expired; the move never saved
    store.sweep();
    expect(moves().has('ann')).toBe(false);
  });
});
