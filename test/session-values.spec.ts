import { HttpSessionState, SessionStateReadOnlyError, SessionStateValueError } from '../src/index.js';
import { createTestSession } from '../src/testing/index.js';

/** An untyped session, to feed it what the types would refuse (as JavaScript callers can). */
const loose = (session: HttpSessionState = createTestSession()) =>
  session as unknown as { set(key: string, value: unknown): unknown; get(key: string): unknown } & HttpSessionState;

function refusal(value: unknown, key = 'k'): SessionStateValueError {
  try {
    loose().set(key, value);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionStateValueError);
    expect(error).toBeInstanceOf(TypeError);
    return error as SessionStateValueError;
  }
  throw new Error('set() accepted a value JSON cannot hold');
}

class Money {
  constructor(readonly cents: number) {}
}

describe('session values are JSON data, checked at set()', () => {
  it.each([
    ['a Date', new Date(0), 'k', /k is a Date .*toISOString/],
    ['a BigInt', 10n, 'k', /k is a BigInt/],
    ['a Map', new Map([['a', 1]]), 'k', /k is a Map/],
    ['a Set', new Set([1]), 'k', /k is a Set/],
    ['a class instance', new Money(5), 'k', /k is an instance of Money/],
    ['a function', () => 1, 'k', /k is a function/],
    ['a symbol', Symbol('s'), 'k', /k is a symbol/],
    ['NaN', Number.NaN, 'k', /k is NaN \(not a finite number\)/],
    ['Infinity', Number.POSITIVE_INFINITY, 'k', /k is Infinity/],
  ])('refuses %s, naming the key', (_what, value, path, message) => {
    const error = refusal(value);
    expect(error.key).toBe('k');
    expect(error.path).toBe(path === 'k' ? '' : path);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/^Session value "k" is not JSON data/);
  });

  it('names the path of a value nested deep inside', () => {
    const error = refusal({ items: [{ sku: 'a' }, { sku: 'b', addedAt: new Date() }] }, 'cart');
    expect(error.path).toBe('items[1].addedAt');
    expect(error.message).toContain('cart.items[1].addedAt is a Date');
    expect(refusal({ 'odd key': [1, undefined] }).path).toBe('["odd key"][1]');
    expect(refusal({ n: [1, 2n] }).message).toContain('k.n[1] is a BigInt');
  });

  it('refuses undefined inside an array and holes (JSON would give back null), drops undefined properties', () => {
    expect(refusal([1, undefined]).path).toBe('[1]');
    // eslint-disable-next-line no-sparse-arrays
    expect(refusal([1, , 3]).path).toBe('[1]');
    const session = loose();
    session.set('o', { a: 1, b: undefined });
    expect(session.serializeItems()).toBe('{"o":{"a":1}}');
  });

  it('refuses an array with a named property (JSON keeps only the elements), naming it', () => {
    const items: unknown[] & { checkedOut?: boolean } = [{ sku: 'a' }];
    items.checkedOut = true;
    const error = refusal({ items }, 'cart');
    expect(error.path).toBe('items.checkedOut');
    expect(error.message).toContain('cart.items.checkedOut is a named property of an array');
    // A key that only looks like an index is named too.
    expect(refusal(Object.assign([1, 2], { '-1': 'x' })).path).toBe('["-1"]');
  });

  it('refuses cycles, accepts shared (acyclic) references', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    expect(refusal(cyclic).path).toBe('self.back');
    const shared = { n: 1 };
    const session = loose();
    session.set('pair', [shared, shared]);
    expect(session.serializeItems()).toBe('{"pair":[{"n":1},{"n":1}]}');
  });

  it('accepts JSON data of every kind, objects without prototype included, and keeps it as given', () => {
    const session = loose();
    const bare = Object.assign(Object.create(null) as object, { x: 1 });
    const value = { s: 'x', n: -1.5, t: true, f: false, z: null, list: [1, 'a', [null]], bare };
    session.set('v', value);
    expect(session.get('v')).toBe(value);
    expect(JSON.parse(session.serializeItems())).toEqual({ v: { ...value, bare: { x: 1 } } });
  });

  it('a refused set() changes nothing', () => {
    const session = loose(createTestSession({ keep: 1 }));
    expect(() => session.set('keep', new Date())).toThrow(SessionStateValueError);
    expect(session.get('keep')).toBe(1);
    expect(session.serializeItems()).toBe('{"keep":1}');
  });

  it('a non-JSON value slipped in by a nested mutation is refused at save time, with its path', () => {
    const session = loose(createTestSession({ list: [1] }));
    (session.get('list') as unknown[]).push(new Date());
    expect(() => session.serializeItems()).toThrow(/list\[1\] is a Date/);
  });

  it('so is one slipped into an object the caller kept after set()', () => {
    const session = loose(createTestSession({ untouched: { deep: [1, 2, 3] } }));
    const list: unknown[] = [1];
    session.set('list', list);
    list.push(new Map());
    expect(() => session.serializeItems()).toThrow(/list\[1\] is a Map/);
  });

  it('nested mutations are still detected (the serialised items change)', () => {
    const session = createTestSession({ cart: [{ sku: 'a' }] });
    const before = session.serializeItems();
    session.get<{ sku: string }[]>('cart')!.push({ sku: 'b' });
    expect(session.serializeItems()).not.toBe(before);
    expect(JSON.parse(session.serializeItems())).toEqual({ cart: [{ sku: 'a' }, { sku: 'b' }] });
  });

  it('in a read-only session, a nested write throws SessionStateReadOnlyError with its advice, and changes nothing', () => {
    const session = createTestSession({ cart: [{ sku: 'a', tags: ['x'] }], prefs: { theme: 'dark' } }, { readOnly: true });
    const advice = /read-only for this handler: use @SessionState\(SessionStateBehavior.Required\)/;
    expect(() => session.set('x', 1)).toThrow(advice);
    const cart = session.get<{ sku: string; tags: string[] }[]>('cart')!;
    const prefs = session.get<{ theme?: string; size?: number }>('prefs')!;
    const writes: (() => unknown)[] = [
      () => cart.push({ sku: 'b', tags: [] }),
      () => cart.pop(),
      () => cart.fill(cart[0]!),
      () => cart.splice(0, 1),
      () => (cart.length = 0),
      () => (cart[0]!.sku = 'z'),
      () => cart[0]!.tags.push('y'),
      () => (prefs.theme = 'light'),
      () => (prefs.size = 2),
      () => delete prefs.theme,
      () => Object.defineProperty(prefs, 'x', { value: 1 }),
      () => Object.setPrototypeOf(prefs, null),
      () => Object.assign(prefs, { theme: 'light' }),
    ];
    for (const write of writes) {
      expect(write).toThrow(SessionStateReadOnlyError);
      expect(write).toThrow(advice);
    }
    // Reads work as on plain data, and nothing changed.
    expect(cart).toHaveLength(1);
    expect(Array.isArray(cart)).toBe(true);
    expect(JSON.parse(JSON.stringify({ cart, prefs }))).toEqual({ cart: [{ sku: 'a', tags: ['x'] }], prefs: { theme: 'dark' } });
    expect([...cart].map((item) => ({ ...item }))).toEqual([{ sku: 'a', tags: ['x'] }]);
    expect(session.get('cart')).toBe(cart);
    expect(JSON.parse(session.serializeItems())).toEqual({ cart: [{ sku: 'a', tags: ['x'] }], prefs: { theme: 'dark' } });
  });

  it('in a read-only session, a nested write in sloppy-mode code throws too (a frozen object would ignore it silently)', () => {
    const session = createTestSession({ list: [1] }, { readOnly: true });
    // Function() bodies are sloppy mode, as are CommonJS files without 'use strict'.
    const sloppyWrite = Function('list', 'list[0] = 9; return list[0];') as (list: unknown) => number;
    expect(() => sloppyWrite(session.get('list'))).toThrow(SessionStateReadOnlyError);
    expect(session.get('list')).toEqual([1]);
  });

  it('the key holding the per-session cookie lifetime is reserved and hidden', () => {
    const session = createTestSession();
    expect(() => loose(session).set('nestjs-session-state:cookieMaxAge', 1)).toThrow(/reserved/);
    session.timeout = 60;
    session.cookie.maxAge = 60_000;
    expect(session.keys()).toEqual([]);
    expect(session.size).toBe(0);
    const reloaded = new HttpSessionState({ id: session.id, items: session.serializeItems(), isNew: false, isReadOnly: false, timeout: 60 });
    expect(reloaded.cookie.maxAge).toBe(60_000);
    expect(reloaded.keys()).toEqual([]);
  });
});

describe('session.cookie.maxAge', () => {
  it('is at most the session timeout, a whole number of ms ≥ 1000, or null/undefined', () => {
    const session = createTestSession({}, { timeout: 30 });
    expect(() => (session.cookie.maxAge = 30 * 60_000 + 1)).toThrow(/would outlive the session .*raise session.timeout first/);
    expect(() => (session.cookie.maxAge = 999)).toThrow(RangeError);
    expect(() => (session.cookie.maxAge = 1.5e3 + 0.5)).toThrow(RangeError);
    expect(() => ((session.cookie as { maxAge: unknown }).maxAge = '1000')).toThrow(RangeError);
    session.cookie.maxAge = 30 * 60_000;
    expect(session.cookie.maxAge).toBe(30 * 60_000);
    session.cookie.maxAge = null;
    expect(session.cookie.maxAge).toBeNull();
    session.cookie.maxAge = undefined;
    expect(session.cookie.maxAge).toBeUndefined();
  });

  it('cannot be set on a read-only session', () => {
    expect(() => (createTestSession({}, { readOnly: true }).cookie.maxAge = 1000)).toThrow(SessionStateReadOnlyError);
  });

  it("goes back with the items at reload (resetItems), when the stored items do not hold it too, and is then no longer this request's change", () => {
    const stored = (maxAge?: number | null) => JSON.stringify({ n: 1, ...(maxAge !== undefined && { 'nestjs-session-state:cookieMaxAge': maxAge }) });
    // Loaded without a lifetime of its own: one set in the request is dropped by the reload.
    const plain = new HttpSessionState({ id: 'a', items: stored(), isNew: false, isReadOnly: false, timeout: 60 });
    plain.cookie.maxAge = 60_000;
    plain.resetItems(stored());
    expect(plain.cookie.maxAge).toBeUndefined();
    expect(plain.cookieChanged).toBe(false);
    expect(JSON.parse(plain.serializeItems())).toEqual({ n: 1 });
    // Loaded with one: the stored one comes back.
    const remembered = new HttpSessionState({ id: 'b', items: stored(60_000), isNew: false, isReadOnly: false, timeout: 60 });
    remembered.cookie.maxAge = null;
    remembered.resetItems(stored(60_000));
    expect(remembered.cookie.maxAge).toBe(60_000);
    expect(remembered.cookieChanged).toBe(false);
    // Stored mid-request (save()) with a lifetime other than the one loaded: the client's cookie still needs it.
    const saved = new HttpSessionState({ id: 'c', items: stored(60_000), isNew: false, isReadOnly: false, timeout: 60 });
    saved.cookie.maxAge = null;
    saved.resetItems(stored(null));
    expect(saved.cookie.maxAge).toBeNull();
    expect(saved.cookieChanged).toBe(true);
  });
});

describe('createTestSession', () => {
  it('builds a stored (not new), writable session with the given data, id and timeout', () => {
    const session = createTestSession({ count: 2 }, { id: 'x'.repeat(32), timeout: 5 });
    expect(session.get<number>('count')).toBe(2);
    expect(session.id).toBe('x'.repeat(32));
    expect(session.timeout).toBe(5);
    expect(session.isNew).toBe(false);
    expect(session.isReadOnly).toBe(false);
    expect(createTestSession({}, { isNew: true }).isNew).toBe(true);
  });

  it('checks values as set() does', () => {
    expect(() => createTestSession({ at: new Date() } as never)).toThrow(SessionStateValueError);
  });

  it("refuses the reserved key and a timeout set() and session.timeout refuse (not turned into the session's cookie.maxAge)", () => {
    expect(() => createTestSession({ 'nestjs-session-state:cookieMaxAge': 5000 })).toThrow(SessionStateValueError);
    expect(() => createTestSession({}, { timeout: 0 })).toThrow(RangeError);
    expect(() => createTestSession({}, { timeout: 525_601 })).toThrow(RangeError);
  });
});

describe('session.owner', () => {
  it('is at most 1024 bytes of UTF-8 (DynamoDB limits its index key in bytes): a 700-character CJK owner is refused at assignment', () => {
    const session = createTestSession();
    const cjk = '漢'.repeat(700); // 2 100 bytes
    expect(() => (session.owner = cjk)).toThrow(
      'Session owner must be a non-empty, well-formed string of at most 1024 bytes (UTF-8), or undefined: got 2100 bytes.',
    );
    expect(session.owner).toBeUndefined();
    expect(session.ownerChanged).toBe(false);
    session.owner = `${'漢'.repeat(341)}a`; // 1 024 bytes
    expect(session.owner).toHaveLength(342);
    expect(() => (session.owner = 'a'.repeat(1025))).toThrow(/at most 1024 bytes/);
    session.owner = 'a'.repeat(1024);
    expect(session.owner).toHaveLength(1024);
  });
});
