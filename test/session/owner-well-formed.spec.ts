import { InMemorySessionStateStore, SessionRevoker } from '../../src/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { createTestSession } from '../../src/testing/index.js';

// Stores keep owners as UTF-8, where a lone surrogate becomes U+FFFD: 'bob\ud800' read back as
// 'bob\ufffd' and shared that owner's index, so revoking one owner signed out the other (on Redis).
describe('an owner that is not well-formed UTF-16', () => {
  it.each(['bob\ud800', 'bob\udc00', '\ude00\ud83d'])('session.owner = %j throws a TypeError and leaves the owner as it was', (owner) => {
    const session = createTestSession();
    expect(() => (session.owner = owner)).toThrow(TypeError);
    expect(() => (session.owner = owner)).toThrow(/well-formed.*lone surrogate/);
    expect(session.owner).toBeUndefined();
    expect(session.ownerChanged).toBe(false);
  });

  it('a surrogate pair (an emoji) is well-formed: accepted', () => {
    const session = createTestSession();
    session.owner = 'bob\ud83d\ude00';
    expect(session.owner).toBe('bob😀');
  });

  it('SessionRevoker.revokeOwner refuses it with a TypeError, removing nothing (not the sessions of "bob\\ufffd")', async () => {
    const store = new InMemorySessionStateStore();
    try {
      const revoker = new SessionRevoker(store);
      const id = 'ownerwellformed00000000000000000';
      await store.setAndReleaseItemExclusive(id, { items: '{"cart":["book"]}', timeout: 20, owner: 'bob\ufffd' }, null, true);
      await expect(revoker.revokeOwner('bob\ud800')).rejects.toThrow(TypeError);
      await expect(revoker.revokeOwner('bob\ud800')).rejects.toThrow(/well-formed.*lone surrogate/);
      expect(flat(await store.getItem(id)).item?.owner).toBe('bob\ufffd');
    } finally {
      store.close();
    }
  });
});
