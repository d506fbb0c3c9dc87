import { HttpSessionState, SessionStateCorruptError } from '../../src/index.js';

// The module always stores items as a JSON object. Other JSON (a foreign record) read as
// `{"0":"a",…}`, and the next write stored that over the record.
const load = (items: string) =>
  new HttpSessionState({ id: 'storeditems0000000000000000000000', items, isNew: false, isReadOnly: false, timeout: 20 });

describe('stored items that are JSON but not an object', () => {
  it.each(['"abc"', '[1,2]', '1', 'null', 'true'])('%s is unreadable (SessionStateCorruptError), not a session', (items) => {
    expect(() => load(items)).toThrow(SessionStateCorruptError);
  });

  it('an object is a session (its keys, a __proto__ key as plain data)', () => {
    const session = load('{"a":1,"__proto__":2}');
    expect(session.keys()).toEqual(['a', '__proto__']);
  });
});
