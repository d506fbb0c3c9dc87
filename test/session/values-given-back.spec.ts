import { isDeepStrictEqual } from 'node:util';
import { HttpSessionState, SessionStateValueError } from '../../src/index.js';
import { MAX_VALUE_DEPTH } from '../../src/session/session-value.validator.js';
import { createTestSession } from '../../src/testing/index.js';

// USAGE.md: set() refuses, with a SessionStateValueError naming the key and the path, what JSON
// would not give back as it was. An Array subclass was accepted and came back different; a deeply
// nested value overflowed the check's stack (a bare RangeError naming no key). -0 is kept as JSON
// keeps it: it reads back as 0 (equal to it), and refusing it would fail a request whose rounding gave -0.
type Loose = HttpSessionState & { set(key: string, value: unknown): unknown; get(key: string): unknown };

/** `value` stored, then read on the next request (the items as the store keeps them). */
function storedAndRead(value: unknown): unknown {
  const session = createTestSession() as Loose;
  session.set('k', value);
  const next = new HttpSessionState({ id: session.id, items: session.serializeItems(), isNew: false, isReadOnly: false, timeout: 20 }) as Loose;
  return next.get('k');
}

function refusal(value: unknown): SessionStateValueError {
  try {
    (createTestSession() as Loose).set('k', value);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionStateValueError);
    return error as SessionStateValueError;
  }
  throw new Error('set() accepted the value');
}

function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

describe('set() refuses what JSON would not give back as it was', () => {
  it('-0 (a rounding of a small negative number) is accepted and reads back as 0, as JSON gives it', () => {
    const read = storedAndRead({ balance: Math.round(-0.2) }) as { balance: number };
    expect(Object.is(read.balance, 0)).toBe(true);
  });

  it('an instance of a class extending Array (JSON gives back a plain array) is refused like other class instances', () => {
    class Cart extends Array<string> {}
    const error = refusal(Cart.from(['book']));
    expect(error.path).toBe('');
    expect(error.message).toContain('k is an instance of Cart (store a plain array)');
    expect(refusal({ carts: [Cart.from(['book'])] }).path).toBe('carts[0]');
    expect(isDeepStrictEqual(storedAndRead([['book']]), [['book']])).toBe(true);
  });

  it(`a value nested deeper than ${MAX_VALUE_DEPTH} levels is a SessionStateValueError naming the key, not a stack overflow`, () => {
    const error = refusal(nested(3_500));
    expect(error.key).toBe('k');
    expect(error.message).toContain(`nested deeper than ${MAX_VALUE_DEPTH} levels`);
    expect(refusal(nested(MAX_VALUE_DEPTH + 1)).key).toBe('k');
    // Up to the limit, kept as it was.
    expect(isDeepStrictEqual(storedAndRead(nested(MAX_VALUE_DEPTH)), nested(MAX_VALUE_DEPTH))).toBe(true);
  });

  it('a value nested too deep by a mutation after set() is refused at save, naming the key', () => {
    const session = createTestSession() as Loose;
    const list: unknown[] = [];
    session.set('list', list);
    list.push(nested(3_500));
    expect(() => session.serializeItems()).toThrow(SessionStateValueError);
    expect(() => session.serializeItems()).toThrow(/Session value "list"/);
  });
});
