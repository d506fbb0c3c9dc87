/**
 * The conformance suite every `SessionStateStore` must pass. It checks the semantics written in
 * the doc comments of `SessionStateStore` (ASP.NET `SessionStateStoreProviderBase`, with fencing
 * lock ids). Time moves only through a fake clock, so the suite never sleeps.
 *
 * It uses only `describe`, `it`, `beforeEach`, `afterEach` and `expect` with matchers common to
 * vitest and Jest, taken from the test globals or given explicitly. In a vitest `*.spec.ts` file:
 *
 *   import { afterEach, beforeEach, describe, expect, it } from 'vitest';
 *   import { describeSessionStateStoreConformance } from 'nestjs-session-state/testing';
 *
 *   describeSessionStateStoreConformance('MyStore', {
 *     create: (clock) => new MyStore({ clock }),
 *     destroy: (store) => (store as MyStore).close(),
 *   }, { describe, it, expect, beforeEach, afterEach });
 *
 * (With vitest's `globals: true`, or under Jest — run with `NODE_OPTIONS=--experimental-vm-modules`,
 * as this package is ESM — the last argument can be left out.)
 */
import { randomBytes } from 'node:crypto';
import { SessionStateLockLostError, type SessionStateLockLostReason } from '../errors/session-state.errors.js';
import { MOVED_MARKER_MS, SessionStateActions, SessionStateStore, type SessionStateStoreData } from '../store/session-state-store.js';
import { flat, type FlatAnswer } from './flat-store-answer.js';

/** The part of a test runner's API the suite uses (vitest's and Jest's fit it). */
export interface ConformanceTestApi {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: () => Promise<void> | void): void;
  beforeEach(fn: () => Promise<void> | void): void;
  afterEach(fn: () => Promise<void> | void): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect: ((actual: unknown) => any) & { any(constructor: unknown): any };
}

export interface ConformanceClock {
  now(): number;
  advance(ms: number): void;
}

export interface ConformanceTarget {
  /** A fresh store whose notion of time is `clock.now` (stores take a `clock?: () => number` option). Ids used by each test are unique, so stores may share a backend table. */
  create(clock: () => number): Promise<SessionStateStore> | SessionStateStore;
  /** Optional: called after each test with the store created for it. */
  destroy?(store: SessionStateStore): Promise<void> | void;
  /**
   * Optional: the store keeps the marker of a moved session (`removeItem` with `moved`, answered
   * `{ kind: 'absent', moved: true }` for `MOVED_MARKER_MS`); its cases run only when set. A store
   * without markers is still checked to answer a moved session's old id as absent.
   */
  movedMarkers?: boolean;
}

const MINUTE = 60_000;
/** Slack allowed on computed expiries (a backend may round, e.g. to the second). */
const EXPIRY_TOLERANCE_MS = 1_000;

/** A clock that starts at the real time and only moves forward through `advance`. */
function createFakeClock(): ConformanceClock {
  let current = Date.now();
  return {
    now: () => current,
    advance(ms: number) {
      if (!(ms >= 0)) throw new RangeError('The conformance clock only moves forward.');
      current += ms;
    },
  };
}

/** A unique session id of the module's form (192 random bits, 32 URL-safe characters). */
function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}

function data(values: Record<string, unknown>, timeout = 20): SessionStateStoreData {
  return { items: JSON.stringify(values), timeout };
}

function expectAbsent(expect: ConformanceTestApi['expect'], answer: FlatAnswer): void {
  expect(answer.kind).toBe('absent');
  expect(answer.item).toBeNull();
  expect(answer.locked).toBe(false);
  expect(answer.lockId).toBeNull();
  expect(answer.expires).toBe(0);
}

function expectNear(expect: ConformanceTestApi['expect'], actual: number, expected: number, tolerance = EXPIRY_TOLERANCE_MS): void {
  expect(actual).toBeGreaterThanOrEqual(expected - tolerance);
  expect(actual).toBeLessThanOrEqual(expected + tolerance);
}

/** Asserts a `SessionStateLockLostError` for `reason` whose message does not leak the session id. */
async function expectLockLost(
  expect: ConformanceTestApi['expect'],
  promise: Promise<unknown>,
  id: string,
  reason: SessionStateLockLostReason,
): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SessionStateLockLostError);
  expect((caught as SessionStateLockLostError).reason).toBe(reason);
  expect((caught as Error).message).not.toContain(id);
}

/**
 * Whether the store overrides the optional `revokeOwner`: the base class has a default that throws
 * (a store written with only the required methods keeps it), so its cases run only when overridden.
 */
function implementsRevokeOwner(store: SessionStateStore): boolean {
  // oxlint-disable-next-line typescript/unbound-method -- compared, never called
  return store.revokeOwner !== SessionStateStore.prototype.revokeOwner;
}

export function describeSessionStateStoreConformance(
  name: string,
  target: ConformanceTarget,
  api: ConformanceTestApi = globalThis as unknown as ConformanceTestApi,
): void {
  // oxlint-disable-next-line typescript/unbound-method -- the runner's globals (vitest, jest, node:test) are plain functions
  const { describe, it, beforeEach, afterEach, expect } = api;
  if (typeof describe !== 'function' || typeof expect !== 'function') {
    throw new TypeError(
      'describeSessionStateStoreConformance: no test globals; pass { describe, it, expect, beforeEach, afterEach } ' +
        "from your test runner (e.g. from 'vitest') as the third argument.",
    );
  }
  describe(name, () => {
    let clock: ConformanceClock;
    let store: SessionStateStore;
    let id: string;

    beforeEach(async () => {
      clock = createFakeClock();
      store = await target.create(() => clock.now());
      id = newSessionId();
    });

    afterEach(async () => {
      if (store) await target.destroy?.(store);
    });

    /** `getItem`, `getItemExclusive` and `handOverItemExclusive`, their answers seen flat (`flat`). */
    const readItem = async (sessionId: string) => flat(await store.getItem(sessionId));
    const lockItem = async (sessionId: string) => flat(await store.getItemExclusive(sessionId));
    const handOver = async (...args: Parameters<SessionStateStore['handOverItemExclusive']>) => flat(await store.handOverItemExclusive(...args));

    /** Creates `id` unlocked with the given data. */
    async function seed(values: Record<string, unknown> = { n: 1 }, timeout = 20, sessionId = id) {
      const stored = data(values, timeout);
      await store.setAndReleaseItemExclusive(sessionId, stored, null, true);
      return stored;
    }

    /** Creates `id` and takes its lock; answers the lock id. */
    async function seedLocked(values: Record<string, unknown> = { n: 1 }, timeout = 20): Promise<string> {
      await seed(values, timeout);
      const answer = await lockItem(id);
      expect(answer.kind).toBe('acquired');
      expect(answer.locked).toBe(false);
      expect(answer.lockId).toEqual(expect.any(String));
      return answer.lockId as string;
    }

    describe('absent items', () => {
      it('getItem on an absent id answers item null, unlocked, no lock id, expires 0', async () => {
        const answer = await readItem(id);
        expectAbsent(expect, answer);
        expect(answer.lockAge).toBe(0);
      });

      it('getItemExclusive on an absent id answers absent and takes no lock', async () => {
        expectAbsent(expect, await lockItem(id));
        expectAbsent(expect, await lockItem(id));
        // Nothing was created by the attempt: a new item can still be written.
        await seed({ created: true });
        expect((await readItem(id)).item?.items).toBe(JSON.stringify({ created: true }));
      });

      it('releaseItemExclusive on an absent id answers false and creates nothing', async () => {
        expect(await store.releaseItemExclusive(id, 'no-such-lock')).toBe(false);
        expectAbsent(expect, await readItem(id));
      });

      it('setAndReleaseItemExclusive(newItem=false) on an absent id throws and creates nothing', async () => {
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ a: 1 }), 'no-such-lock', false), id, 'item_gone');
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ a: 1 }), null, false), id, 'lock_mismatch');
        expectAbsent(expect, await readItem(id));
      });

      it('removeItem on an absent id throws SessionStateLockLostError', async () => {
        await expectLockLost(expect, store.removeItem(id, 'no-such-lock'), id, 'item_gone');
        expectAbsent(expect, await readItem(id));
      });
    });

    describe('creating items', () => {
      it('setAndReleaseItemExclusive(newItem=true) creates an unlocked item, items kept verbatim', async () => {
        // Not the canonical form JSON.stringify would give: a store must not re-serialise.
        const items = '{"b":2,  "a":[1,2,{"c":null}] , "s":"x\\"y"}';
        await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
        const answer = await readItem(id);
        expect(answer.item).toEqual({ items, timeout: 20 });
        expect(answer.locked).toBe(false);
        expect(answer.lockAge).toBe(0);
        expect(answer.lockId).toBeNull();
        expect(answer.actions).toBe(SessionStateActions.None);
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
      });

      it('newItem=true on an existing item throws and leaves its data intact', async () => {
        const original = await seed({ keep: 'me' });
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ keep: 'not' }), null, true), id, 'item_exists');
        const answer = await readItem(id);
        expect(answer.item).toEqual(original);
        expect(answer.locked).toBe(false);
      });

      it('newItem=true on an existing locked item throws, and leaves data and lock intact', async () => {
        const lockId = await seedLocked({ keep: 'me' });
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ keep: 'not' }), lockId, true), id, 'item_exists');
        const locked = await readItem(id);
        expect(locked.locked).toBe(true);
        expect(locked.lockId).toBe(lockId);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        expect((await readItem(id)).item?.items).toBe(JSON.stringify({ keep: 'me' }));
      });

      it('createNewStoreData(timeout) answers an empty item with that timeout', () => {
        expect(store.createNewStoreData(20)).toEqual({ items: '{}', timeout: 20 });
        expect(store.createNewStoreData(1)).toEqual({ items: '{}', timeout: 1 });
      });
    });

    describe('getItem (read-only)', () => {
      it('takes no lock', async () => {
        await seed();
        await readItem(id);
        await readItem(id);
        const exclusive = await lockItem(id);
        expect(exclusive.locked).toBe(false);
        expect(exclusive.lockId).toEqual(expect.any(String));
        expect(exclusive.item).not.toBeNull();
      });

      it('while a writer holds the lock answers locked, item null, and the holder lock id', async () => {
        const lockId = await seedLocked();
        clock.advance(1_500);
        const answer = await readItem(id);
        expect(answer.locked).toBe(true);
        expect(answer.item).toBeNull();
        expect(answer.lockId).toBe(lockId);
        expect(answer.lockAge).toBeGreaterThanOrEqual(1_500);
      });
    });

    describe('getItemExclusive (locking)', () => {
      it('acquires: answers the item, locked false, and a non-empty lock id', async () => {
        const stored = await seed({ x: 'y' });
        const answer = await lockItem(id);
        expect(answer.item).toEqual(stored);
        expect(answer.locked).toBe(false);
        expect(typeof answer.lockId).toBe('string');
        expect((answer.lockId as string).length).toBeGreaterThan(0);
        expect(answer.actions).toBe(SessionStateActions.None);
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
      });

      it('taking the lock slides the expiry, so a long request never sees its session expire under it', async () => {
        await seed({ x: 'y' }, 20);
        clock.advance(15 * MINUTE);
        const { lockId } = await lockItem(id);
        clock.advance(10 * MINUTE); // past the expiry the item had before the lock
        const held = await readItem(id);
        expect(held.locked).toBe(true);
        expect(held.lockId).toBe(lockId);
        expectNear(expect, held.expires, clock.now() + 10 * MINUTE);
      });

      it('a second getItemExclusive answers locked, item null, the holder lock id and a growing lockAge', async () => {
        const lockId = await seedLocked();
        const first = await lockItem(id);
        expect(first.locked).toBe(true);
        expect(first.item).toBeNull();
        expect(first.lockId).toBe(lockId);
        expect(first.lockAge).toBeGreaterThanOrEqual(0);
        expect(first.lockAge).toBeLessThan(EXPIRY_TOLERANCE_MS);

        clock.advance(5_000);
        const second = await lockItem(id);
        expect(second.locked).toBe(true);
        expect(second.item).toBeNull();
        expect(second.lockId).toBe(lockId);
        expect(second.lockAge).toBeGreaterThanOrEqual(first.lockAge + 5_000);
        expect(second.lockAge).toBeLessThan(5_000 + EXPIRY_TOLERANCE_MS);

        clock.advance(7_000);
        const third = await lockItem(id);
        expect(third.lockId).toBe(lockId);
        expect(third.lockAge).toBeGreaterThanOrEqual(second.lockAge + 7_000);
      });

      it('each acquisition yields a fresh lock id', async () => {
        await seed();
        const seen = new Set<string>();
        for (let i = 0; i < 3; i++) {
          const answer = await lockItem(id);
          expect(answer.locked).toBe(false);
          const lockId = answer.lockId as string;
          expect(lockId).toEqual(expect.any(String));
          expect(seen.has(lockId)).toBe(false);
          seen.add(lockId);
          expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        }
      });

      it('20 parallel getItemExclusive calls on one item: exactly one acquires', async () => {
        await seed();
        const answers = await Promise.all(Array.from({ length: 20 }, () => lockItem(id)));
        const winners = answers.filter((a) => !a.locked && a.lockId !== null);
        expect(winners).toHaveLength(1);
        const winnerLockId = winners[0]!.lockId;
        const losers = answers.filter((a) => a.locked);
        expect(losers).toHaveLength(19);
        for (const loser of losers) {
          expect(loser.item).toBeNull();
          expect(loser.lockId).toBe(winnerLockId);
        }
        const after = await readItem(id);
        expect(after.locked).toBe(true);
        expect(after.lockId).toBe(winnerLockId);
      });
    });

    describe('setAndReleaseItemExclusive', () => {
      it('with the right lock id writes and unlocks', async () => {
        const lockId = await seedLocked({ n: 1 });
        clock.advance(3_000);
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }), lockId, false);
        const answer = await readItem(id);
        expect(answer.item).toEqual(data({ n: 2 }));
        expect(answer.locked).toBe(false);
        expect(answer.lockId).toBeNull();
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
        const next = await lockItem(id);
        expect(next.locked).toBe(false);
        expect(next.lockId).toEqual(expect.any(String));
        expect(next.lockId).not.toBe(lockId);
      });

      it('the lock id is spent once used: a second write with it throws', async () => {
        const lockId = await seedLocked({ n: 1 });
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }), lockId, false);
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 3 }), lockId, false), id, 'lock_mismatch');
        expect((await readItem(id)).item).toEqual(data({ n: 2 }));
      });

      it('the lock id is spent even for a second write of the same items in the same millisecond (a store that recognises a resent call must not take it for one)', async () => {
        const lockId = await seedLocked({ n: 1 });
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }), lockId, false);
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, { ...data({ n: 2 }), owner: 'bob' }, lockId, false), id, 'lock_mismatch');
        expect((await readItem(id)).item).toEqual(data({ n: 2 }));
      });

      it('with a wrong lock id throws and writes nothing; the holder keeps the lock', async () => {
        const lockId = await seedLocked({ n: 1 });
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 99 }), 'not-the-lock-id', false), id, 'lock_mismatch');
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 99 }), null, false), id, 'lock_mismatch');
        const locked = await readItem(id);
        expect(locked.locked).toBe(true);
        expect(locked.lockId).toBe(lockId);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        expect((await readItem(id)).item).toEqual(data({ n: 1 }));
      });

      it('with a stale lock id from an earlier acquisition throws and writes nothing', async () => {
        const first = await seedLocked({ n: 1 });
        expect(await store.releaseItemExclusive(id, first)).toBe(true);
        const second = (await lockItem(id)).lockId as string;
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 99 }), first, false), id, 'lock_mismatch');
        const locked = await readItem(id);
        expect(locked.locked).toBe(true);
        expect(locked.lockId).toBe(second);
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }), second, false);
        expect((await readItem(id)).item).toEqual(data({ n: 2 }));
      });

      it('on an unlocked item with any lock id throws and writes nothing', async () => {
        await seed({ n: 1 });
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 99 }), 'any-lock-id', false), id, 'lock_mismatch');
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 99 }), null, false), id, 'lock_mismatch');
        const answer = await readItem(id);
        expect(answer.item).toEqual(data({ n: 1 }));
        expect(answer.locked).toBe(false);
      });

      it('stores a changed per-session timeout and computes the expiry from it', async () => {
        const lockId = await seedLocked({ n: 1 }, 20);
        await store.setAndReleaseItemExclusive(id, data({ n: 1 }, 5), lockId, false);
        const answer = await readItem(id);
        expect(answer.item?.timeout).toBe(5);
        expectNear(expect, answer.expires, clock.now() + 5 * MINUTE);
        clock.advance(6 * MINUTE);
        expectAbsent(expect, await readItem(id));
      });

      it('items of about 100 KB with unicode round-trip intact', async () => {
        const chunk = 'héllo wörld ✓ 日本語 🌍 "quoted" \\ \n\t ';
        let text = '';
        let i = 0;
        while (Buffer.byteLength(text, 'utf8') < 100_000) text += `${i++}:${chunk}`;
        const items = JSON.stringify({ text, emoji: '👩‍👩‍👧‍👦', nested: { list: [1, 'ü', null] } });
        expect(Buffer.byteLength(items, 'utf8')).toBeGreaterThan(100_000);
        await store.setAndReleaseItemExclusive(id, { items, timeout: 20 }, null, true);
        const exclusive = await lockItem(id);
        expect(exclusive.item?.items).toBe(items);
        await store.setAndReleaseItemExclusive(id, { items: items + ' ', timeout: 20 }, exclusive.lockId, false);
        const read = await readItem(id);
        expect(read.item?.items).toBe(items + ' ');
        expect(JSON.parse(read.item!.items).text).toBe(text);
      });
    });

    describe('handOverItemExclusive', () => {
      it('changed: writes the items and keeps the session locked, under a new lock id the answer carries', async () => {
        const lockId = await seedLocked({ n: 1 });
        clock.advance(3_000);
        const next = await handOver(id, data({ n: 2 }), lockId, true);
        expect(next.locked).toBe(false);
        expect(next.item).toEqual(data({ n: 2 }));
        expect(next.lockId).toEqual(expect.any(String));
        expect(next.lockId).not.toBe(lockId);
        expectNear(expect, next.expires, clock.now() + 20 * MINUTE);
        // Never unlocked in between: another request finds it held by the new lock, just taken.
        const contended = await lockItem(id);
        expect(contended.locked).toBe(true);
        expect(contended.lockId).toBe(next.lockId);
        expect(contended.lockAge).toBeLessThan(1_000);
        // The old lock id is spent; the new one saves and releases.
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 99 }), lockId, false), id, 'lock_mismatch');
        await store.setAndReleaseItemExclusive(id, data({ n: 3 }), next.lockId, false);
        const answer = await readItem(id);
        expect(answer.locked).toBe(false);
        expect(answer.item).toEqual(data({ n: 3 }));
      });

      it('unchanged: keeps the stored items, slides the expiry, and keeps the session locked under a new lock id', async () => {
        const lockId = await seedLocked({ n: 1 }, 20);
        clock.advance(5 * MINUTE);
        const next = await handOver(id, data({ n: 1 }, 20), lockId, false);
        expect(next.item).toEqual(data({ n: 1 }, 20));
        expect(next.lockId).not.toBe(lockId);
        expect((await readItem(id)).lockId).toBe(next.lockId);
        expect(await store.releaseItemExclusive(id, next.lockId!)).toBe(true);
        const answer = await readItem(id);
        expect(answer.item).toEqual(data({ n: 1 }, 20));
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
      });

      it('with a wrong or spent lock id throws, writes nothing, and the holder keeps the lock', async () => {
        const lockId = await seedLocked({ n: 1 });
        await expectLockLost(expect, store.handOverItemExclusive(id, data({ n: 99 }), 'not-the-lock-id', true), id, 'lock_mismatch');
        await expectLockLost(expect, store.handOverItemExclusive(id, data({ n: 1 }), 'not-the-lock-id', false), id, 'lock_mismatch');
        const locked = await readItem(id);
        expect(locked.lockId).toBe(lockId);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        await expectLockLost(expect, store.handOverItemExclusive(id, data({ n: 99 }), lockId, true), id, 'lock_mismatch');
        const answer = await readItem(id);
        expect(answer.locked).toBe(false);
        expect(answer.item).toEqual(data({ n: 1 }));
      });

      it('a chain of hand-overs of a large session keeps the latest items', async () => {
        const big = (n: number) => ({ items: JSON.stringify({ n, text: 'x'.repeat(30_000) }), timeout: 20 });
        let lockId = await seedLocked({ n: 0 });
        // Changed, unchanged (the holder passes on what it loaded), changed.
        for (const [item, changed] of [
          [big(1), true],
          [big(1), false],
          [big(3), true],
        ] as const) {
          const next = await handOver(id, item, lockId, changed);
          expect(next.item?.items).toBe(item.items);
          expect((await readItem(id)).item?.items).toBeUndefined(); // locked: a reader gets no item
          lockId = next.lockId!;
        }
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        expect((await readItem(id)).item?.items).toBe(big(3).items);
      });
    });

    // Optional (a mid-request `save()`): checked for stores that implement it.
    describe('setItemExclusive (when implemented)', () => {
      it('existing item: writes the items and a new expiry, keeps the lock under the same lock id', async () => {
        if (!store.setItemExclusive) return;
        const lockId = await seedLocked({ n: 1 }, 20);
        clock.advance(5 * MINUTE);
        expect(await store.setItemExclusive(id, data({ n: 2 }, 30), lockId, false)).toBe(lockId);
        // Still held by the caller: another request finds it locked, a reader gets no item.
        const contended = await lockItem(id);
        expect(contended.kind).toBe('locked');
        expect(contended.lockId).toBe(lockId);
        // Saved durably: the holder may save again, and its release keeps what was saved.
        expect(await store.setItemExclusive(id, data({ n: 3 }, 30), lockId, false)).toBe(lockId);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        const answer = await readItem(id);
        expect(answer.item).toEqual(data({ n: 3 }, 30));
        expect(answer.locked).toBe(false);
        expectNear(expect, answer.expires, clock.now() + 30 * MINUTE);
      });

      it('existing item: a wrong or null lock id throws lock_mismatch and writes nothing; the holder keeps the lock', async () => {
        if (!store.setItemExclusive) return;
        const lockId = await seedLocked({ n: 1 });
        await expectLockLost(expect, store.setItemExclusive(id, data({ n: 99 }), 'not-the-lock-id', false), id, 'lock_mismatch');
        await expectLockLost(expect, store.setItemExclusive(id, data({ n: 99 }), null, false), id, 'lock_mismatch');
        expect((await readItem(id)).lockId).toBe(lockId);
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }), lockId, false);
        expect((await readItem(id)).item).toEqual(data({ n: 2 }));
      });

      it('existing item: an absent or removed item throws item_gone and creates nothing', async () => {
        if (!store.setItemExclusive) return;
        const lockId = await seedLocked({ n: 1 });
        await store.removeItem(id, lockId);
        await expectLockLost(expect, store.setItemExclusive(id, data({ n: 2 }), lockId, false), id, 'item_gone');
        expect((await readItem(id)).kind).toBe('absent');
      });

      it('newItem: inserts the item locked under a new lock id it answers; that lock saves and releases', async () => {
        if (!store.setItemExclusive) return;
        const lockId = await store.setItemExclusive(id, data({ n: 1 }, 20), null, true);
        expect(lockId).toEqual(expect.any(String));
        const contended = await lockItem(id);
        expect(contended.kind).toBe('locked');
        expect(contended.lockId).toBe(lockId);
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }, 20), lockId, false);
        const answer = await readItem(id);
        expect(answer.item).toEqual(data({ n: 2 }, 20));
        expect(answer.locked).toBe(false);
      });

      it('newItem: a live item throws item_exists and stays as it was; an expired one is replaced', async () => {
        if (!store.setItemExclusive) return;
        await seed({ n: 1 }, 1);
        await expectLockLost(expect, store.setItemExclusive(id, data({ n: 2 }), null, true), id, 'item_exists');
        expect((await readItem(id)).item).toEqual(data({ n: 1 }, 1));
        clock.advance(2 * MINUTE);
        const lockId = await store.setItemExclusive(id, data({ n: 3 }), null, true);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        expect((await readItem(id)).item).toEqual(data({ n: 3 }));
      });

      it('a large session saved mid-request reads back intact once released', async () => {
        if (!store.setItemExclusive) return;
        const big = { items: JSON.stringify({ text: 'é'.repeat(40_000) }), timeout: 20 };
        const lockId = await seedLocked({ n: 1 });
        await store.setItemExclusive(id, big, lockId, false);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        expect((await readItem(id)).item?.items).toBe(big.items);
      });
    });

    describe('releaseItemExclusive', () => {
      it('with the right lock id releases, keeps the data, and slides the expiry', async () => {
        const lockId = await seedLocked({ n: 1 }, 20);
        const createdExpires = clock.now() + 20 * MINUTE;
        clock.advance(5 * MINUTE);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        const answer = await readItem(id);
        expect(answer.locked).toBe(false);
        expect(answer.lockId).toBeNull();
        expect(answer.item).toEqual(data({ n: 1 }, 20));
        expect(answer.expires).toBeGreaterThan(createdExpires + 4 * MINUTE);
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
        // The slid expiry is real: past the original expiry the item is still there.
        clock.advance(16 * MINUTE);
        expect((await readItem(id)).item).toEqual(data({ n: 1 }, 20));
      });

      it('with a wrong lock id answers false and the lock is still held', async () => {
        const lockId = await seedLocked({ n: 1 });
        expect(await store.releaseItemExclusive(id, 'not-the-lock-id')).toBe(false);
        const answer = await readItem(id);
        expect(answer.locked).toBe(true);
        expect(answer.lockId).toBe(lockId);
        const contended = await lockItem(id);
        expect(contended.locked).toBe(true);
        expect(contended.lockId).toBe(lockId);
        await store.setAndReleaseItemExclusive(id, data({ n: 2 }), lockId, false);
        expect((await readItem(id)).item).toEqual(data({ n: 2 }));
      });

      it('on an unlocked item answers false', async () => {
        await seed({ n: 1 });
        expect(await store.releaseItemExclusive(id, 'any-lock-id')).toBe(false);
        expect((await readItem(id)).item).toEqual(data({ n: 1 }));
      });
    });

    describe('removeItem', () => {
      it('with the right lock id deletes the item', async () => {
        const lockId = await seedLocked();
        await store.removeItem(id, lockId);
        // Its lock id fences nothing any more, and a refusal says the session is gone.
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 9 }), lockId, false), id, 'item_gone');
        await expectLockLost(expect, store.removeItem(id, lockId), id, 'item_gone');
        expectAbsent(expect, await readItem(id));
        expectAbsent(expect, await lockItem(id));
        // The id is free again.
        await seed({ again: true });
        expect((await readItem(id)).item).toEqual(data({ again: true }));
      });

      it('with a wrong lock id throws and the item stays, still locked by the holder', async () => {
        const lockId = await seedLocked({ n: 1 });
        await expectLockLost(expect, store.removeItem(id, 'not-the-lock-id'), id, 'lock_mismatch');
        const answer = await readItem(id);
        expect(answer.locked).toBe(true);
        expect(answer.lockId).toBe(lockId);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        expect((await readItem(id)).item).toEqual(data({ n: 1 }));
      });

      it('on an unlocked item throws and the item stays', async () => {
        await seed({ n: 1 });
        await expectLockLost(expect, store.removeItem(id, 'any-lock-id'), id, 'lock_mismatch');
        expect((await readItem(id)).item).toEqual(data({ n: 1 }));
      });
    });

    describe('stale locks (fencing)', () => {
      it('a broken stale lock fences out its old holder; the new holder data wins', async () => {
        const lockA = await seedLocked({ owner: 'original' });

        clock.advance(2 * MINUTE);
        const seenByB = await lockItem(id);
        expect(seenByB.locked).toBe(true);
        expect(seenByB.item).toBeNull();
        expect(seenByB.lockId).toBe(lockA);
        expect(seenByB.lockAge).toBeGreaterThanOrEqual(2 * MINUTE);
        expect(seenByB.lockAge).toBeLessThan(2 * MINUTE + EXPIRY_TOLERANCE_MS);

        // B breaks the stale lock with the holder's lock id, then acquires with a new one.
        expect(await store.releaseItemExclusive(id, seenByB.lockId as string)).toBe(true);
        const acquiredByB = await lockItem(id);
        expect(acquiredByB.locked).toBe(false);
        expect(acquiredByB.item).toEqual(data({ owner: 'original' }));
        const lockB = acquiredByB.lockId as string;
        expect(lockB).toEqual(expect.any(String));
        expect(lockB).not.toBe(lockA);

        // A comes back late: every lock-ending call with its old id fails.
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ owner: 'A' }), lockA, false), id, 'lock_mismatch');
        expect(await store.releaseItemExclusive(id, lockA)).toBe(false);
        await expectLockLost(expect, store.removeItem(id, lockA), id, 'lock_mismatch');

        const held = await readItem(id);
        expect(held.locked).toBe(true);
        expect(held.lockId).toBe(lockB);

        await store.setAndReleaseItemExclusive(id, data({ owner: 'B' }), lockB, false);
        // Still fenced after B released.
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ owner: 'A' }), lockA, false), id, 'lock_mismatch');
        expect(await store.releaseItemExclusive(id, lockA)).toBe(false);
        await expectLockLost(expect, store.removeItem(id, lockA), id, 'lock_mismatch');

        const final = await readItem(id);
        expect(final.item).toEqual(data({ owner: 'B' }));
        expect(final.locked).toBe(false);
      });
    });

    describe('expiry', () => {
      it('an item past its timeout reads as absent', async () => {
        await seed({ n: 1 }, 20);
        clock.advance(20 * MINUTE - 1_000 - EXPIRY_TOLERANCE_MS);
        expect((await readItem(id)).item).toEqual(data({ n: 1 }, 20));
        clock.advance(2_000 + 2 * EXPIRY_TOLERANCE_MS);
        expectAbsent(expect, await readItem(id));
        expectAbsent(expect, await lockItem(id));
        expectAbsent(expect, await readItem(id));
      });

      it('resetItemTimeout does not resurrect an expired item', async () => {
        await seed({ n: 1 }, 20);
        clock.advance(21 * MINUTE);
        await store.resetItemTimeout(id);
        expectAbsent(expect, await readItem(id));
        expectAbsent(expect, await lockItem(id));
      });

      it('setAndReleaseItemExclusive(newItem=true) replaces an expired item', async () => {
        await seed({ old: true }, 20);
        clock.advance(21 * MINUTE);
        await store.setAndReleaseItemExclusive(id, data({ fresh: true }, 20), null, true);
        const answer = await readItem(id);
        expect(answer.item).toEqual(data({ fresh: true }, 20));
        expect(answer.locked).toBe(false);
        expect(answer.actions).toBe(SessionStateActions.None);
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
      });

      it('honours a per-session timeout (1 vs 30 minutes)', async () => {
        const shortId = id;
        const longId = newSessionId();
        await seed({ which: 'short' }, 1, shortId);
        await seed({ which: 'long' }, 30, longId);
        expectNear(expect, (await readItem(shortId)).expires, clock.now() + 1 * MINUTE);
        expectNear(expect, (await readItem(longId)).expires, clock.now() + 30 * MINUTE);

        clock.advance(2 * MINUTE);
        expectAbsent(expect, await readItem(shortId));
        expect((await readItem(longId)).item).toEqual(data({ which: 'long' }, 30));

        clock.advance(29 * MINUTE);
        expectAbsent(expect, await readItem(longId));
      });
    });

    describe('resetItemTimeout', () => {
      it('slides the expiry of an existing item', async () => {
        await seed({ n: 1 }, 20);
        clock.advance(15 * MINUTE);
        await store.resetItemTimeout(id);
        const answer = await readItem(id);
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
        expect(answer.item).toEqual(data({ n: 1 }, 20));
        expect(answer.locked).toBe(false);
        // 25 minutes after creation, alive thanks to the reset.
        clock.advance(10 * MINUTE);
        expect((await readItem(id)).item).toEqual(data({ n: 1 }, 20));
        clock.advance(11 * MINUTE);
        expectAbsent(expect, await readItem(id));
      });

      it('never creates an item', async () => {
        await store.resetItemTimeout(id);
        expectAbsent(expect, await readItem(id));
        expectAbsent(expect, await lockItem(id));
        // The id is still free for a new item.
        await seed({ n: 1 });
        expect((await readItem(id)).item).toEqual(data({ n: 1 }));
      });

      it('does not create an item after removeItem', async () => {
        const lockId = await seedLocked();
        await store.removeItem(id, lockId);
        await store.resetItemTimeout(id);
        expectAbsent(expect, await readItem(id));
      });

      it('on a locked item does not break the lock, and still slides the expiry', async () => {
        const lockId = await seedLocked({ n: 1 }, 20);
        clock.advance(15 * MINUTE);
        await store.resetItemTimeout(id);

        const answer = await readItem(id);
        expect(answer.locked).toBe(true);
        expect(answer.lockId).toBe(lockId);
        const contended = await lockItem(id);
        expect(contended.locked).toBe(true);
        expect(contended.lockId).toBe(lockId);
        expect(await store.releaseItemExclusive(id, 'not-the-lock-id')).toBe(false);

        // 25 minutes after creation: without the slide the item would have expired.
        clock.advance(10 * MINUTE);
        const later = await readItem(id);
        expect(later.locked).toBe(true);
        expect(later.lockId).toBe(lockId);

        await store.setAndReleaseItemExclusive(id, data({ n: 2 }, 20), lockId, false);
        const written = await readItem(id);
        expect(written.item).toEqual(data({ n: 2 }, 20));
        expect(written.locked).toBe(false);
      });
    });

    // Optional (the lifecycle never calls it): checked for stores that implement it.
    describe('createUninitializedItem (when implemented)', () => {
      const createUninitializedItem = (sessionId: string, timeout: number) => store.createUninitializedItem!(sessionId, timeout);

      it('creates an empty item flagged InitializeItem', async () => {
        if (!store.createUninitializedItem) return;
        await createUninitializedItem(id, 20);
        const answer = await readItem(id);
        expect(answer.item).toEqual({ items: '{}', timeout: 20 });
        expect(answer.locked).toBe(false);
        expect(answer.actions).toBe(SessionStateActions.InitializeItem);
        expectNear(expect, answer.expires, clock.now() + 20 * MINUTE);
      });

      it('getItemExclusive answers InitializeItem with the lock; after setAndRelease the actions are None', async () => {
        if (!store.createUninitializedItem) return;
        await createUninitializedItem(id, 20);
        // A read-only load changes nothing: the flag survives it.
        expect((await readItem(id)).actions).toBe(SessionStateActions.InitializeItem);
        const acquired = await lockItem(id);
        expect(acquired.item).toEqual({ items: '{}', timeout: 20 });
        expect(acquired.locked).toBe(false);
        expect(acquired.lockId).toEqual(expect.any(String));
        expect(acquired.actions).toBe(SessionStateActions.InitializeItem);

        await store.setAndReleaseItemExclusive(id, data({ init: true }), acquired.lockId, false);
        const read = await readItem(id);
        expect(read.item).toEqual(data({ init: true }));
        expect(read.actions).toBe(SessionStateActions.None);
        const again = await lockItem(id);
        expect(again.actions).toBe(SessionStateActions.None);
        expect(again.item).toEqual(data({ init: true }));
      });

      it('does not overwrite an existing item', async () => {
        if (!store.createUninitializedItem) return;
        const stored = await seed({ precious: 'data' }, 30);
        await createUninitializedItem(id, 5);
        const answer = await readItem(id);
        expect(answer.item).toEqual(stored);
        expect(answer.actions).toBe(SessionStateActions.None);
      });

      it('does not overwrite or unlock a locked item', async () => {
        if (!store.createUninitializedItem) return;
        const lockId = await seedLocked({ precious: 'data' });
        await createUninitializedItem(id, 5);
        const answer = await readItem(id);
        expect(answer.locked).toBe(true);
        expect(answer.lockId).toBe(lockId);
        expect(await store.releaseItemExclusive(id, lockId)).toBe(true);
        const read = await readItem(id);
        expect(read.item).toEqual(data({ precious: 'data' }));
        expect(read.actions).toBe(SessionStateActions.None);
      });

      it('honours its timeout', async () => {
        if (!store.createUninitializedItem) return;
        await createUninitializedItem(id, 1);
        clock.advance(2 * MINUTE);
        expectAbsent(expect, await readItem(id));
      });
    });
    describe('moved sessions and their markers (markers when the target sets movedMarkers)', () => {
      const MOVED = { kind: 'absent', moved: true };
      const ownedBy = (owner: string): SessionStateStoreData => ({ ...data({ n: 1 }), owner });

      it('a moved session is absent under its old id; with markers, answered moved by getItem and getItemExclusive, never locked', async () => {
        const lockId = await seedLocked();
        await store.removeItem(id, lockId, { moved: true });
        expect((await store.getItem(id)).kind).toBe('absent');
        expect(await store.probeLock(id)).toBeNull();
        if (!target.movedMarkers) return;
        expect(await store.getItem(id)).toEqual(MOVED);
        expect(await store.getItemExclusive(id)).toEqual(MOVED);
        // Its lock id fences nothing: the session is gone.
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, data({ n: 9 }), lockId, false), id, 'item_gone');
        expect(await store.releaseItemExclusive(id, lockId)).toBe(false);
        expect(await store.getItem(id)).toEqual(MOVED);
      });

      it("with markers, a move's removal run again under its lock id is done (its own marker); under another lock id, or once the marker is gone, item_gone", async () => {
        if (!target.movedMarkers) return;
        // It says so: the lifecycle reads an id found plainly absent after its own removal by it.
        expect(store.keepsMovedMarkers).toBe(true);
        const lockId = await seedLocked();
        await store.removeItem(id, lockId, { moved: true });
        // Sent again (a client library's resend, or the lifecycle's after no answer): done, the marker kept.
        await store.removeItem(id, lockId, { moved: true });
        expect(await store.getItem(id)).toEqual(MOVED);
        // Another request's removal finds it gone: the move was not its own.
        await expectLockLost(expect, store.removeItem(id, newSessionId(), { moved: true }), id, 'item_gone');
        expect(await store.getItem(id)).toEqual(MOVED);
        clock.advance(MOVED_MARKER_MS);
        await expectLockLost(expect, store.removeItem(id, lockId, { moved: true }), id, 'item_gone');
        expect(await store.getItem(id)).toEqual({ kind: 'absent' });
      });

      it('a marker lasts MOVED_MARKER_MS, then the id is plainly absent', async () => {
        if (!target.movedMarkers) return;
        await store.removeItem(id, await seedLocked(), { moved: true });
        clock.advance(MOVED_MARKER_MS - EXPIRY_TOLERANCE_MS);
        expect(await store.getItem(id)).toEqual(MOVED);
        clock.advance(EXPIRY_TOLERANCE_MS);
        expect(await store.getItem(id)).toEqual({ kind: 'absent' });
        expect(await store.getItemExclusive(id)).toEqual({ kind: 'absent' });
      });

      it('only a move leaves a marker: an abandoned session, or the copy of an undone move (undoneCopy), is plainly absent', async () => {
        await store.removeItem(id, await seedLocked());
        expect(await store.getItem(id)).toEqual({ kind: 'absent' });
        expect(await store.getItemExclusive(id)).toEqual({ kind: 'absent' });
        const copy = newSessionId();
        await seed({ n: 1 }, 20, copy);
        const { lockId } = await lockItem(copy);
        await store.removeItem(copy, lockId!, { undoneCopy: true });
        expect(await store.getItem(copy)).toEqual({ kind: 'absent' });
      });

      it('a marker is never a session: not listed, revoked or counted with its owner; a new session of that id replaces it', async () => {
        const owner = `user-${newSessionId()}`;
        await store.setAndReleaseItemExclusive(id, ownedBy(owner), null, true);
        const { lockId } = await lockItem(id);
        await store.removeItem(id, lockId!, { moved: true });
        if (store.listOwnerSessions) expect(await store.listOwnerSessions(owner)).toEqual([]);
        if (implementsRevokeOwner(store)) expect(await store.revokeOwner(owner)).toBe(0);
        if (store.revokeItem) expect(await store.revokeItem(id, owner)).toBe(false);
        await seed({ again: true });
        expect((await readItem(id)).item).toEqual(data({ again: true }));
      });
    });

    describe('owner and revokeOwner (sign out everywhere; revokeOwner when implemented)', () => {
      const owned = (values: Record<string, unknown>, owner: string | undefined): SessionStateStoreData =>
        owner === undefined ? data(values) : { ...data(values), owner };

      it('stores the owner with the session and reads it back; saving without one clears it', async () => {
        const owner = `user-${newSessionId()}`;
        await store.setAndReleaseItemExclusive(id, owned({ n: 1 }, owner), null, true);
        expect((await readItem(id)).item).toEqual(owned({ n: 1 }, owner));
        const { lockId, item } = await lockItem(id);
        expect(item?.owner).toBe(owner);
        await store.setAndReleaseItemExclusive(id, owned({ n: 2 }, undefined), lockId, false);
        expect((await readItem(id)).item).toEqual(data({ n: 2 }));
        if (implementsRevokeOwner(store)) expect(await store.revokeOwner(owner)).toBe(0);
      });

      it("removes every live session of the owner, answers how many, and leaves other owners' sessions (when revokeOwner is implemented)", async () => {
        if (!implementsRevokeOwner(store)) return;
        const ann = `ann-${newSessionId()}`;
        const bob = `bob-${newSessionId()}`;
        const anns = [newSessionId(), newSessionId(), newSessionId()];
        for (const sessionId of anns) await store.setAndReleaseItemExclusive(sessionId, owned({ who: 'ann' }, ann), null, true);
        await store.setAndReleaseItemExclusive(id, owned({ who: 'bob' }, bob), null, true);
        expect(await store.revokeOwner(ann)).toBe(3);
        for (const sessionId of anns) expectAbsent(expect, await readItem(sessionId));
        expect((await readItem(id)).item).toEqual(owned({ who: 'bob' }, bob));
        expect(await store.revokeOwner(ann)).toBe(0);
      });

      it('fences out a request holding a revoked session: its save and its remove throw SessionStateLockLostError, nothing comes back', async () => {
        if (!implementsRevokeOwner(store)) return;
        const owner = `user-${newSessionId()}`;
        await store.setAndReleaseItemExclusive(id, owned({ n: 1 }, owner), null, true);
        const { lockId } = await lockItem(id);
        expect(await store.revokeOwner(owner)).toBe(1);
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, owned({ n: 2 }, owner), lockId, false), id, 'item_gone');
        await expectLockLost(expect, store.removeItem(id, lockId!), id, 'item_gone');
        expect(await store.releaseItemExclusive(id, lockId!)).toBe(false);
        expectAbsent(expect, await readItem(id));
      });

      it('revokeOwner does not count expired sessions', async () => {
        if (!implementsRevokeOwner(store)) return;
        const owner = `user-${newSessionId()}`;
        await store.setAndReleaseItemExclusive(id, { ...owned({ n: 1 }, owner), timeout: 1 }, null, true);
        clock.advance(2 * MINUTE);
        expect(await store.revokeOwner(owner)).toBe(0);
      });
    });

    describe('claimOwnerSlot (when implemented: maxSessionsPerOwner)', () => {
      const PENDING_MS = 1_000;
      const claim = (owner: string, sessionId: string, policy: 'refuse' | 'revoke-oldest', replacing?: string) =>
        store.claimOwnerSlot!({ owner, id: sessionId, max: 2, policy, pendingMs: PENDING_MS, ...(replacing ? { replacing } : {}) });
      /** A sign-in as the lifecycle makes it: the place, then the save. */
      async function signIn(owner: string, policy: 'refuse' | 'revoke-oldest'): Promise<string> {
        const sessionId = newSessionId();
        expect(await claim(owner, sessionId, policy)).toEqual({ admitted: true, revoked: 0 });
        await store.setAndReleaseItemExclusive(sessionId, { ...data({}), owner }, null, true);
        clock.advance(10);
        return sessionId;
      }

      it('refuse: admits up to the cap, refuses beyond it; a place given back, or a session gone, frees one', async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        const first = await signIn(owner, 'refuse');
        const second = await signIn(owner, 'refuse');
        expect(await claim(owner, newSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
        // The same session claiming again keeps its one place.
        expect(await claim(owner, second, 'refuse')).toEqual({ admitted: true, revoked: 0 });
        await store.releaseOwnerSlot!(owner, second);
        const third = newSessionId();
        expect(await claim(owner, third, 'refuse')).toEqual({ admitted: true, revoked: 0 });
        // third was never saved: it counts while its save may be under way, then goes; first's removal frees its place.
        const { lockId } = await lockItem(first);
        await store.removeItem(first, lockId!);
        clock.advance(PENDING_MS);
        expect(await claim(owner, newSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
        expect((await readItem(second)).kind).toBe('loaded');
      });

      it('revoke-oldest: the earliest sign-in is revoked for the new one; another owner is untouched; the session moving to a new id does not count itself', async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        const other = `other-${newSessionId()}`;
        const first = await signIn(owner, 'revoke-oldest');
        const second = await signIn(owner, 'revoke-oldest');
        const others = await signIn(other, 'revoke-oldest');
        expect(await claim(owner, newSessionId(), 'revoke-oldest', second)).toEqual({ admitted: true, revoked: 0 });
        clock.advance(PENDING_MS);
        expect(await claim(owner, newSessionId(), 'revoke-oldest')).toMatchObject({ admitted: true });
        expectAbsent(expect, await readItem(first));
        expect((await readItem(others)).item?.owner).toBe(other);
      });

      it('a login moving an owned session (replacing) and the id it replaces count as one place while the move may be under way, two once it is over', async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        const first = await signIn(owner, 'revoke-oldest');
        const second = await signIn(owner, 'revoke-oldest');
        // first's device signs in again: the new id's place is taken, its save not landed yet.
        const moved = newSessionId();
        expect(await claim(owner, moved, 'revoke-oldest', first)).toEqual({ admitted: true, revoked: 0 });
        clock.advance(10);
        // second's device signs in again meanwhile: admitted (two devices, not three).
        const secondMoved = newSessionId();
        expect(await claim(owner, secondMoved, 'refuse', second)).toEqual({ admitted: true, revoked: 0 });
        expect(await claim(owner, newSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
        // A third device under revoke-oldest: the oldest place goes, the device that moved first, whole (its old record).
        expect(await claim(owner, newSessionId(), 'revoke-oldest')).toEqual({ admitted: true, revoked: 1 });
        expectAbsent(expect, await readItem(first));
        expect((await readItem(second)).kind).toBe('loaded');

        // A move that never removes its old record: once pendingMs has passed, both records count.
        const other = `user-${newSessionId()}`;
        const old = await signIn(other, 'refuse');
        const renewed = newSessionId();
        expect(await claim(other, renewed, 'refuse', old)).toEqual({ admitted: true, revoked: 0 });
        await store.setAndReleaseItemExclusive(renewed, { ...data({}), owner: other }, null, true);
        expect(await claim(other, newSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
        expect(await claim(other, newSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
        clock.advance(PENDING_MS);
        expect(await claim(other, newSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
        expect((await readItem(old)).kind).toBe('loaded');
      });

      it("a session past absoluteMs frees its place at once: stored as the owner's, it is not a save under way", async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        const old = await signIn(owner, 'refuse');
        await signIn(owner, 'refuse');
        const withLifetime = { owner, id: newSessionId(), max: 2, policy: 'refuse' as const, pendingMs: PENDING_MS, absoluteMs: MINUTE };
        expect(await store.claimOwnerSlot(withLifetime)).toEqual({ admitted: false, live: 2 });
        const { lockId } = await lockItem(old);
        await store.setAndReleaseItemExclusive(old, { ...data({}), owner, created: clock.now() - MINUTE }, lockId, false);
        expect(await store.claimOwnerSlot(withLifetime)).toEqual({ admitted: true, revoked: 0 });
      });

      it('revokeItem and revokeOwner free the places at once (when revokeItem is implemented)', async () => {
        if (!store.claimOwnerSlot || !store.revokeItem) return;
        const owner = `user-${newSessionId()}`;
        const first = await signIn(owner, 'refuse');
        await signIn(owner, 'refuse');
        expect(await store.revokeItem(first, owner)).toBe(true);
        expect(await claim(owner, newSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
        if (!implementsRevokeOwner(store)) return;
        expect(await store.revokeOwner(owner)).toBe(1);
        expect(await claim(owner, newSessionId(), 'refuse')).toEqual({ admitted: true, revoked: 0 });
      });

      it("an owner's first claim counts the sessions it already has (stored before the cap): refused at the cap, revoked first", async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        const earlier: string[] = [];
        for (let n = 0; n < 2; n++) {
          earlier.push(newSessionId());
          await store.setAndReleaseItemExclusive(earlier[n]!, { ...data({}), owner }, null, true);
        }
        clock.advance(PENDING_MS);
        expect(await claim(owner, newSessionId(), 'refuse')).toEqual({ admitted: false, live: 2 });
        expect(await claim(owner, newSessionId(), 'revoke-oldest')).toEqual({ admitted: true, revoked: 1 });
        const kinds = await Promise.all(earlier.map(async (sessionId) => (await readItem(sessionId)).kind));
        expect(kinds.sort()).toEqual(['absent', 'loaded']);
      });

      it('revoke-oldest over sessions stored before the cap goes by their created time (none: oldest), not by id or the order they were stored in', async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        // Ids sorted the other way from age; stored newest first; one without created (stored before it existed).
        const [unstamped, older, newer] = [newSessionId(), newSessionId(), newSessionId()].sort().reverse();
        await store.setAndReleaseItemExclusive(newer!, { ...data({}), owner, created: clock.now() - MINUTE }, null, true);
        await store.setAndReleaseItemExclusive(older!, { ...data({}), owner, created: clock.now() - 2 * MINUTE }, null, true);
        await store.setAndReleaseItemExclusive(unstamped!, { ...data({}), owner }, null, true);
        clock.advance(PENDING_MS);
        const revokeOldest = { owner, max: 3, policy: 'revoke-oldest' as const, pendingMs: PENDING_MS };
        expect(await store.claimOwnerSlot({ ...revokeOldest, id: newSessionId() })).toEqual({ admitted: true, revoked: 1 });
        expectAbsent(expect, await readItem(unstamped!));
        expect(await store.claimOwnerSlot({ ...revokeOldest, id: newSessionId() })).toEqual({ admitted: true, revoked: 1 });
        expectAbsent(expect, await readItem(older!));
        expect((await readItem(newer!)).kind).toBe('loaded');
      });

      it('20 parallel claims of one owner: exactly the cap are admitted (refuse)', async () => {
        if (!store.claimOwnerSlot) return;
        const owner = `user-${newSessionId()}`;
        const answers = await Promise.all(Array.from({ length: 20 }, () => claim(owner, newSessionId(), 'refuse')));
        expect(answers.filter((a) => a.admitted).length).toBe(2);
      });
    });

    describe('created and client (kept verbatim)', () => {
      const stamped = (values: Record<string, unknown>, created: number, client?: string): SessionStateStoreData =>
        client === undefined ? { ...data(values), created } : { ...data(values), created, client };

      it('a save keeps created and client; a read, a lock and a hand-over answer them; saving without them clears them', async () => {
        const created = clock.now() - 3 * MINUTE;
        const client = JSON.stringify({ ua: 'Firefox 128 on Linux', ip: '203.0.113.7' });
        await store.setAndReleaseItemExclusive(id, stamped({ n: 1 }, created, client), null, true);
        expect((await readItem(id)).item).toEqual(stamped({ n: 1 }, created, client));
        const { lockId, item } = await lockItem(id);
        expect(item).toEqual(stamped({ n: 1 }, created, client));
        const handed = await handOver(id, stamped({ n: 2 }, created, client), lockId!, true);
        expect(handed.item).toEqual(stamped({ n: 2 }, created, client));
        await store.setAndReleaseItemExclusive(id, data({ n: 3 }), handed.lockId, false);
        expect((await readItem(id)).item).toEqual(data({ n: 3 }));
      });

      it('setItemExclusive keeps them too (when implemented)', async () => {
        if (!store.setItemExclusive) return;
        const created = clock.now();
        const lockId = await store.setItemExclusive(id, stamped({ n: 1 }, created), null, true);
        await store.setAndReleaseItemExclusive(id, stamped({ n: 2 }, created, 'c'), lockId, false);
        expect((await readItem(id)).item).toEqual(stamped({ n: 2 }, created, 'c'));
      });
    });

    describe('listOwnerSessions and revokeItem (when implemented)', () => {
      const owned = (values: Record<string, unknown>, owner: string, extra: Partial<SessionStateStoreData> = {}): SessionStateStoreData => ({
        ...data(values),
        owner,
        ...extra,
      });

      it("lists the owner's live sessions (id, expiry, timeout, created, client), not other owners', not expired ones", async () => {
        if (!store.listOwnerSessions) return;
        const ann = `ann-${newSessionId()}`;
        const bob = `bob-${newSessionId()}`;
        const [a1, a2, a3] = [newSessionId(), newSessionId(), newSessionId()];
        const created = clock.now() - MINUTE;
        await store.setAndReleaseItemExclusive(a1, owned({ n: 1 }, ann, { created, client: 'laptop' }), null, true);
        await store.setAndReleaseItemExclusive(a2, { ...owned({ n: 2 }, ann), timeout: 30 }, null, true);
        await store.setAndReleaseItemExclusive(a3, { ...owned({ n: 3 }, ann), timeout: 1 }, null, true);
        await store.setAndReleaseItemExclusive(id, owned({ n: 4 }, bob), null, true);
        clock.advance(2 * MINUTE); // a3 expires
        const listed = (await store.listOwnerSessions(ann)).sort((x, y) => x.timeout - y.timeout);
        expect(listed.map((s) => s.id)).toEqual([a1, a2]);
        expect(listed[0]).toMatchObject({ id: a1, timeout: 20, created, client: 'laptop' });
        expectNear(expect, listed[0]!.expires, clock.now() - 2 * MINUTE + 20 * MINUTE);
        expect(listed[1]).toMatchObject({ id: a2, timeout: 30 });
        expect(listed[1]!.created).toBeUndefined();
        expect(listed[1]!.client).toBeUndefined();
        expect((await store.listOwnerSessions(bob)).map((s) => s.id)).toEqual([id]);
        expect(await store.listOwnerSessions(`nobody-${newSessionId()}`)).toEqual([]);
      });

      it("a session given another owner, or none, leaves the first owner's list; a locked one stays listed", async () => {
        if (!store.listOwnerSessions) return;
        const ann = `ann-${newSessionId()}`;
        const other = newSessionId();
        await store.setAndReleaseItemExclusive(id, owned({ n: 1 }, ann), null, true);
        await store.setAndReleaseItemExclusive(other, owned({ n: 1 }, ann), null, true);
        const { lockId } = await lockItem(id);
        expect((await store.listOwnerSessions(ann)).map((s) => s.id).sort()).toEqual([id, other].sort());
        await store.setAndReleaseItemExclusive(id, owned({ n: 2 }, `bob-${newSessionId()}`), lockId, false);
        const otherLock = (await lockItem(other)).lockId;
        await store.setAndReleaseItemExclusive(other, data({ n: 2 }), otherLock, false);
        expect(await store.listOwnerSessions(ann)).toEqual([]);
      });

      it('revokeItem removes a live session of that owner only: another owner, an absent or expired id answer false', async () => {
        if (!store.revokeItem) return;
        const ann = `ann-${newSessionId()}`;
        await store.setAndReleaseItemExclusive(id, owned({ n: 1 }, ann), null, true);
        expect(await store.revokeItem(id, `bob-${newSessionId()}`)).toBe(false);
        expect((await readItem(id)).item).toEqual(owned({ n: 1 }, ann));
        expect(await store.revokeItem(newSessionId(), ann)).toBe(false);
        expect(await store.revokeItem(id, ann)).toBe(true);
        expectAbsent(expect, await readItem(id));
        expect(await store.revokeItem(id, ann)).toBe(false);
        if (store.listOwnerSessions) expect(await store.listOwnerSessions(ann)).toEqual([]);
        const short = newSessionId();
        await store.setAndReleaseItemExclusive(short, { ...owned({ n: 1 }, ann), timeout: 1 }, null, true);
        clock.advance(2 * MINUTE);
        expect(await store.revokeItem(short, ann)).toBe(false);
      });

      it('revokeItem fences out a request holding the session: its save throws SessionStateLockLostError, nothing comes back', async () => {
        if (!store.revokeItem) return;
        const ann = `ann-${newSessionId()}`;
        await store.setAndReleaseItemExclusive(id, owned({ n: 1 }, ann), null, true);
        const { lockId } = await lockItem(id);
        expect(await store.revokeItem(id, ann)).toBe(true);
        await expectLockLost(expect, store.setAndReleaseItemExclusive(id, owned({ n: 2 }, ann), lockId, false), id, 'item_gone');
        expect(await store.releaseItemExclusive(id, lockId!)).toBe(false);
        expectAbsent(expect, await readItem(id));
      });
    });
  });
}
