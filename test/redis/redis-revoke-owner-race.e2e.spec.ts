/**
 * Review: revokeOwner SREMs every id it read from the owner's set, whatever its REVOKE answered.
 * An entry that was stale when REVOKE looked (the session had no owner: a logout whose best-effort
 * SREM did not land, as test/redis's owner-index test simulates with SADD) but that a login made
 * valid again before the SREM (its SADD is a no-op, the entry being there) is removed: the session
 * is live, owned, and its `u` horizon says it is indexed, so it is not re-indexed for about one
 * timeout of activity. A later sign-out-everywhere misses it.
 * Fix: src/redis/redis-session-state.store.ts revokeOwner(): SREM only the ids its REVOKE removed
 * (answers 1 and 2); leave entries of sessions that are not the owner's (the set's TTL drops them).
 */
import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore, type RedisSessionClient } from '../../src/redis/index.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let client: RedisClientType;

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  client = createClient({ url: server.url });
  await Promise.all([admin.connect(), client.connect()]);
});
afterAll(async () => {
  admin?.destroy();
  client?.destroy();
  await server?.stop();
});

/** The client, with SREM commands held until `open()` (to interleave a login with revokeOwner). */
function gatedClient(inner: RedisClientType) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let held = 0;
  const proxy = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'sendCommand') {
        return async (args: (string | Buffer)[], options: object) => {
          if (String(args[0]).toUpperCase() === 'SREM') {
            held++;
            await gate;
          }
          return target.sendCommand(args, options);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { client: proxy as unknown as RedisSessionClient, open: () => open(), held: () => held };
}

describe('review: revokeOwner and a concurrent login', () => {
  it('a session logged in while revokeOwner runs is still found by the next revokeOwner', async () => {
    const plain = new RedisSessionStateStore({ client: client as unknown as RedisSessionClient, releaseNotifications: false });
    const owner = 'review-owner-race';
    const ownerKey = `sess:owner:{${owner}}`;
    const id = 'review-revoke-aaaaaaaaaaaaaaaaaaaa';
    // Logged in as the owner, then logged out (owner cleared); its index entry stayed behind (best effort).
    await plain.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner }, null, true);
    const { lockId } = flat(await plain.getItemExclusive(id));
    await plain.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, lockId, false);
    await admin.sAdd(ownerKey, id);

    // Sign-out-everywhere starts: SMEMBERS, REVOKE (not the owner's now: 0), then its SREM waits...
    const gated = gatedClient(client);
    const revoker = new RedisSessionStateStore({ client: gated.client, releaseNotifications: false });
    const revoking = revoker.revokeOwner(owner);
    await vi.waitFor(() => expect(gated.held()).toBe(1));
    // ...while the user logs in again on that session.
    const again = flat(await plain.getItemExclusive(id));
    await plain.setAndReleaseItemExclusive(id, { items: '{"user":1}', timeout: 20, owner }, again.lockId!, false);
    gated.open();
    expect(await revoking).toBe(0);

    // A later sign-out-everywhere must remove that live session of the owner.
    expect(await plain.revokeOwner(owner)).toBe(1);
    expect((await plain.getItem(id)).kind).toBe('absent');
  });
});
