import {
  keepsChanges,
  planCompletion,
  type CompletionFacts,
  type CompletionPlan,
  type CookieStep,
  type StoreStep,
  writesSession,
} from '../../src/core/completion-plan.js';

/** A read-write request that loaded a stored session under its lock, succeeded and changed nothing. */
const LOADED: CompletionFacts = {
  readOnly: false,
  outcome: 'succeeded',
  stored: true,
  hasLock: true,
  abandoned: false,
  cameWithCookie: true,
  cookieSent: false,
  regenerated: false,
  isNew: false,
  itemsChanged: false,
  itemsEmpty: false,
  hasOwner: false,
  timeoutChanged: false,
  ownerChanged: false,
  canSetCookie: true,
  resignCookie: false,
  refreshExpiry: false,
  renewsCookie: false,
};
/** A request without a (known) session: a new one, never stored, no lock. */
const NEW: CompletionFacts = { ...LOADED, stored: false, hasLock: false, isNew: true, cameWithCookie: false, itemsChanged: true, itemsEmpty: true };
/** A read-only request of a stored session (no lock). */
const READ: CompletionFacts = { ...LOADED, readOnly: true, hasLock: false };

const NONE: StoreStep = { kind: 'none' };
const RELEASE: StoreStep = { kind: 'release' };
const HAND_OVER_SAVE: StoreStep = { kind: 'save', handOver: true };
const CREATE: StoreStep = { kind: 'create' };
const RESET: StoreStep = { kind: 'reset-timeout' };
const plan = (store: StoreStep, cookie: CookieStep, log?: NonNullable<CompletionPlan['log']>['level']) => ({ store, cookie, level: log });

const SENT = { canSetCookie: false }; // the answer already left (or a WebSocket message)

/** Every branch of the completion, by the facts that lead to it. */
const TABLE: [string, Partial<CompletionFacts> & { base: CompletionFacts }, ReturnType<typeof plan>][] = [
  // Read-only: nothing saved; the expiry slides when much of it elapsed; the cookie follows on success only.
  ['read-only, nothing due', { base: READ }, plan(NONE, 'none')],
  ['read-only, expiry due, browser-session cookie', { base: READ, refreshExpiry: true }, plan(RESET, 'none')],
  ['read-only, expiry due, persistent cookie', { base: READ, refreshExpiry: true, renewsCookie: true }, plan(RESET, 'renew')],
  [
    'read-only, expiry due, persistent cookie, failed: the expiry slides, no cookie',
    { base: READ, refreshExpiry: true, renewsCookie: true, outcome: 'failed' },
    plan(RESET, 'none'),
  ],
  ['read-only, persistent cookie, expiry not due: no renewal', { base: READ, renewsCookie: true }, plan(NONE, 'none')],
  ['read-only, old signature: signed again', { base: READ, resignCookie: true }, plan(NONE, 'renew')],
  ['read-only, old signature, failed', { base: READ, resignCookie: true, outcome: 'failed' }, plan(NONE, 'none')],
  ['read-only, old signature, answer already left', { base: READ, resignCookie: true, ...SENT }, plan(NONE, 'none')],
  ['read-only, expiry due, answer already left', { base: READ, refreshExpiry: true, renewsCookie: true, ...SENT }, plan(RESET, 'none')],
  ['read-only, no stored session', { base: { ...NEW, readOnly: true }, renewsCookie: true }, plan(NONE, 'none')],
  ['read-only, written items are never saved', { base: READ, itemsChanged: true, timeoutChanged: true }, plan(NONE, 'none')],

  // Failed: the changes are discarded, the lock released (or handed over); no cookie.
  ['failed, locked', { base: LOADED, outcome: 'failed' }, plan(RELEASE, 'none')],
  ['failed, new session (no lock)', { base: NEW, outcome: 'failed' }, plan(NONE, 'none')],
  ['failed, changed', { base: LOADED, outcome: 'failed', itemsChanged: true, renewsCookie: true, resignCookie: true }, plan(RELEASE, 'none')],
  ['failed, abandoned: not removed', { base: LOADED, outcome: 'failed', abandoned: true }, plan(RELEASE, 'none')],
  ['failed, regenerated: not moved', { base: LOADED, outcome: 'failed', regenerated: true }, plan(RELEASE, 'none')],

  // abandon(): the record goes, the cookie is cleared if the request came with one.
  ['abandoned', { base: LOADED, abandoned: true }, plan({ kind: 'remove' }, 'clear')],
  ['abandoned, answer already left', { base: LOADED, abandoned: true, ...SENT }, plan({ kind: 'remove' }, 'none')],
  ['abandoned, new session, no cookie came: none to clear', { base: NEW, abandoned: true }, plan(NONE, 'none')],
  ['abandoned, new session, an unknown id came: cleared', { base: NEW, abandoned: true, cameWithCookie: true }, plan(NONE, 'clear')],
  [
    'abandoned after a mid-request save sent the cookie of a new session: cleared',
    { base: LOADED, abandoned: true, cameWithCookie: false, cookieSent: true },
    plan({ kind: 'remove' }, 'clear'),
  ],
  ['abandoned and regenerated: removed', { base: LOADED, abandoned: true, regenerated: true }, plan({ kind: 'remove' }, 'clear')],

  // regenerateId(): the data moves to the new id, the new cookie is made before that write.
  ['regenerated', { base: LOADED, regenerated: true }, plan({ kind: 'move', removeOld: true }, 'set')],
  [
    'regenerated, unchanged items, browser-session cookie',
    { base: LOADED, regenerated: true, itemsChanged: false },
    plan({ kind: 'move', removeOld: true }, 'set'),
  ],
  [
    'regenerated, new session: nothing old to remove',
    { base: NEW, regenerated: true, itemsEmpty: false },
    plan({ kind: 'move', removeOld: false }, 'set'),
  ],
  // An anonymous visitor's logout (passport: save(), then regenerate()): nothing stored nor announced.
  ['regenerated, new and empty: nothing stored, no cookie', { base: NEW, regenerated: true }, plan(NONE, 'none')],
  [
    'regenerated, new and empty, with an owner: moved',
    { base: NEW, regenerated: true, hasOwner: true },
    plan({ kind: 'move', removeOld: false }, 'set'),
  ],
  ['regenerated to empty: the old record goes, no cookie', { base: LOADED, regenerated: true, itemsEmpty: true }, plan({ kind: 'remove' }, 'none')],
  [
    'regenerated to empty after a mid-request save sent its cookie: that cookie is cleared',
    { base: LOADED, regenerated: true, itemsEmpty: true, cookieSent: true },
    plan({ kind: 'remove' }, 'clear'),
  ],
  [
    'regenerated to empty after a save sent its cookie, answer already left',
    { base: LOADED, regenerated: true, itemsEmpty: true, cookieSent: true, ...SENT },
    plan({ kind: 'remove' }, 'none'),
  ],
  [
    'regenerated, answer already left: kept under its id',
    { base: LOADED, regenerated: true, ...SENT },
    plan({ kind: 'save', handOver: false }, 'none', 'error'),
  ],
  [
    'regenerated, stored without a lock id, answer already left: nothing written without the lock',
    { base: LOADED, regenerated: true, hasLock: false, ...SENT },
    plan(NONE, 'none', 'error'),
  ],
  [
    'regenerated, new session, answer already left: nothing stored',
    { base: NEW, regenerated: true, itemsEmpty: false, ...SENT },
    plan(NONE, 'none', 'error'),
  ],

  // A session new to the store.
  ['new and still empty: nothing', { base: NEW }, plan(NONE, 'none')],
  ['new and still empty, answer already left: nothing, no warning', { base: NEW, ...SENT }, plan(NONE, 'none')],
  ['new, empty, with an owner', { base: NEW, hasOwner: true }, plan(CREATE, 'set')],
  ['new with items', { base: NEW, itemsEmpty: false }, plan(CREATE, 'set')],
  ['new with items, answer already left: never a record no cookie names', { base: NEW, itemsEmpty: false, ...SENT }, plan(NONE, 'none', 'warn')],

  // A stored session that changed: saved (the lock handed over to a waiter of this process, if any).
  ['changed items, browser-session cookie', { base: LOADED, itemsChanged: true }, plan(HAND_OVER_SAVE, 'none')],
  ['changed items, persistent cookie: its expiry slides', { base: LOADED, itemsChanged: true, renewsCookie: true }, plan(HAND_OVER_SAVE, 'set')],
  ['changed items, old signature', { base: LOADED, itemsChanged: true, resignCookie: true }, plan(HAND_OVER_SAVE, 'set')],
  [
    'changed items, cookie due, answer already left',
    { base: LOADED, itemsChanged: true, renewsCookie: true, resignCookie: true, ...SENT },
    plan(HAND_OVER_SAVE, 'none'),
  ],
  ['timeout changed', { base: LOADED, timeoutChanged: true }, plan(HAND_OVER_SAVE, 'none')],
  ['owner changed', { base: LOADED, ownerChanged: true }, plan(HAND_OVER_SAVE, 'none')],
  ['stored but never initialised (isNew)', { base: LOADED, isNew: true }, plan(HAND_OVER_SAVE, 'set')],
  ['changed, stored without a lock id', { base: LOADED, hasLock: false, itemsChanged: true }, plan({ kind: 'save', handOver: false }, 'none')],
  ['changed to empty items', { base: LOADED, itemsChanged: true, itemsEmpty: true }, plan(HAND_OVER_SAVE, 'none')],

  // Unchanged: released; the cookie renewed only for a new signature or a sliding expiry.
  ['unchanged', { base: LOADED }, plan(RELEASE, 'none')],
  ['unchanged, persistent cookie', { base: LOADED, renewsCookie: true }, plan(RELEASE, 'renew')],
  ['unchanged, old signature', { base: LOADED, resignCookie: true }, plan(RELEASE, 'renew')],
  ['unchanged, old signature, answer already left', { base: LOADED, resignCookie: true, ...SENT }, plan(RELEASE, 'none')],
  ['unchanged, stored without a lock id', { base: LOADED, hasLock: false, renewsCookie: true }, plan(NONE, 'renew')],
];

describe('planCompletion (what the end of a request does with its session)', () => {
  it.each(TABLE)('%s', (_, { base, ...facts }, expected) => {
    const { store, cookie, log } = planCompletion({ ...base, ...facts });
    expect({ store, cookie, level: log?.level }).toEqual(expected);
  });

  it("logs why: the answer left before the session was saved, or the request's path is outside cookie.path", () => {
    expect(planCompletion({ ...NEW, itemsEmpty: false, canSetCookie: false, outsideCookiePath: true }).log?.message).toMatch(
      /^The session cookie could not be set: the request's path is outside cookie\.path.*The new session was not stored\.$/,
    );
  });

  it('logs why: the answer left before the session was saved, and what became of it', () => {
    expect(planCompletion({ ...LOADED, regenerated: true, canSetCookie: false }).log?.message).toMatch(
      /^regenerateId\(\): the response was sent before the session was saved.*@Res\(\).*The session was kept under its current id\.$/,
    );
    expect(planCompletion({ ...NEW, itemsEmpty: false, canSetCookie: false }).log?.message).toMatch(
      /^The session cookie could not be set: the response was sent before .*The new session was not stored\.$/,
    );
  });

  it("logs why for a connection's message (a WebSocket): it cannot set a cookie at all; no @Res() advice (review R18)", () => {
    expect(planCompletion({ ...LOADED, regenerated: true, canSetCookie: false, message: true }).log?.message).toBe(
      'regenerateId(): a message of a connection (a WebSocket, a GraphQL subscription) cannot set a cookie. Log in over HTTP. The session was kept under its current id.',
    );
  });

  it('reads the items only when the changes are kept, and the request cookie only when abandoned', () => {
    const unread = (facts: CompletionFacts, ...names: (keyof CompletionFacts)[]) => {
      const guarded = { ...facts };
      for (const name of names) {
        Object.defineProperty(guarded, name, {
          get: () => {
            throw new Error(`${name} was read`);
          },
        });
      }
      return guarded;
    };
    for (const facts of [READ, { ...LOADED, outcome: 'failed' as const }, { ...LOADED, abandoned: true }]) {
      expect(keepsChanges(facts)).toBe(false);
      expect(() => planCompletion(unread(facts, 'itemsChanged', 'itemsEmpty'))).not.toThrow();
    }
    expect(keepsChanges(LOADED)).toBe(true);
    for (const facts of [READ, LOADED, NEW, { ...LOADED, regenerated: true }, { ...LOADED, outcome: 'failed' as const, abandoned: true }]) {
      expect(() => planCompletion(unread(facts, 'cameWithCookie'))).not.toThrow();
    }
  });

  describe('over every combination of facts a request can have', () => {
    const NAMES = Object.keys(LOADED).filter((k) => k !== 'outcome') as Exclude<keyof CompletionFacts, 'outcome'>[];
    /** Facts a lease can have: a session new to the store holds no lock, was not signed, is new. */
    const possible = (f: CompletionFacts) =>
      (f.stored || (f.isNew && !f.hasLock && !f.resignCookie && !f.refreshExpiry && !f.cookieSent)) &&
      (!f.readOnly || !f.hasLock) &&
      (!f.refreshExpiry || f.readOnly);
    const all: CompletionFacts[] = [];
    for (let bits = 0; bits < 2 ** NAMES.length; bits++) {
      for (const outcome of ['succeeded', 'failed'] as const) {
        const facts = { outcome } as Record<string, unknown>;
        NAMES.forEach((name, i) => (facts[name] = (bits & (1 << i)) !== 0));
        if (possible(facts as unknown as CompletionFacts)) all.push(facts as unknown as CompletionFacts);
      }
    }
    const plans = all.map((facts) => [facts, planCompletion(facts)] as const);
    const writes = (p: CompletionPlan) => ['save', 'create', 'move'].includes(p.store.kind);
    /** Fails with the facts and plan that break `rule` (checked without a matcher per fact set: thousands of them). */
    const holds = (rule: (f: CompletionFacts, p: CompletionPlan) => boolean) => {
      const broken = plans.find(([f, p]) => !rule(f, p));
      if (broken) expect.fail(`broken by ${JSON.stringify(broken[0])} → ${JSON.stringify(broken[1])}`);
    };

    it('covers thousands of fact sets', () => expect(all.length).toBeGreaterThan(10_000));

    it('takes a step that needs the lock only with the lock', () =>
      holds((f, { store: s }) => {
        const needsLock = s.kind === 'release' || s.kind === 'remove' || (s.kind === 'save' && s.handOver) || (s.kind === 'move' && s.removeOld);
        return !needsLock || f.hasLock;
      }));

    it('never writes a record that no cookie names: a new record always comes with its cookie, made before the write', () =>
      holds((_, p) => !(p.store.kind === 'create' || p.store.kind === 'move') || p.cookie === 'set'));

    it('writes data only when the changes are kept', () => holds((f, p) => !writes(p) || keepsChanges(f)));

    it('leaves no lock behind: every read-write plan of a locked session releases, saves, moves or removes it', () =>
      holds((f, p) => !f.hasLock || f.readOnly || p.store.kind !== 'none'));

    it('sends no cookie that cannot reach the client, nor after a failure', () =>
      holds((f, p) => (f.canSetCookie && f.outcome === 'succeeded') || p.cookie === 'none'));

    it('clears only a cookie that came or was sent, for a session abandoned or regenerated to nothing', () =>
      holds((f, p) => p.cookie !== 'clear' || (f.abandoned ? f.cameWithCookie || f.cookieSent : f.regenerated && f.cookieSent && f.itemsEmpty)));

    it('never stores nor announces a new session that holds nothing (no items, no owner)', () =>
      holds((f, p) => !(keepsChanges(f) && !f.stored && f.itemsEmpty && !f.hasOwner) || (p.store.kind === 'none' && p.cookie === 'none')));

    it('a read-only request only slides the expiry; a failed read-write one only releases', () =>
      holds((f, p) =>
        f.readOnly
          ? p.store.kind === 'none' || p.store.kind === 'reset-timeout'
          : f.outcome === 'succeeded' || p.store.kind === (f.hasLock ? 'release' : 'none'),
      ));

    it('logs only when the answer left before a new id or a new session could be stored', () =>
      holds((f, p) => !p.log || (!f.canSetCookie && keepsChanges(f) && (f.regenerated || !f.stored))));
  });
});

describe('writesSession (what a failed request discards: a GraphQL batch says so)', () => {
  it('save, create, move and remove write the session; release, reset-timeout and none do not', () => {
    const steps: [StoreStep, boolean][] = [
      [{ kind: 'save', handOver: true }, true],
      [{ kind: 'save', handOver: false }, true],
      [{ kind: 'create' }, true],
      [{ kind: 'move', removeOld: true }, true],
      [{ kind: 'remove' }, true],
      [{ kind: 'release' }, false],
      [{ kind: 'reset-timeout' }, false],
      [{ kind: 'none' }, false],
    ];
    for (const [step, writes] of steps) expect([step, writesSession(step)]).toEqual([step, writes]);
  });

  it('a loaded session that changed nothing writes nothing on success; one whose items changed does', () => {
    expect(writesSession(planCompletion(LOADED).store)).toBe(false);
    expect(writesSession(planCompletion({ ...LOADED, itemsChanged: true }).store)).toBe(true);
  });
});
