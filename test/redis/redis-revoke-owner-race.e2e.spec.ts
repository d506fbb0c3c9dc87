/**
 * revokeOwner and a login that interleaves with it. An entry that was stale when REVOKE looked (the
 * session had no owner: a logout whose best-effort removal did not land, simulated here by ZADD) may be
 * made valid again by a login before revokeOwner's removal (the login's entry is the one already
 * there). revokeOwner removes only the entries its REVOKE removed (or found absent), so that live
 * session stays indexed and the next sign-out-everywhere finds it.
 */
import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore, type RedisSessionClient } from '../../src/redis/index.js';
import { REVOKE } from '../../src/redis/redis-scripts.js';
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

/**
 * The client, with the answers of REVOKE held until `open()`: whatever revokeOwner sends after its
 * scripts (the SREM) comes after what the test does meanwhile. A fault a real server cannot be made
 * to produce on cue: the interleaving.
 */
function gatedClient(inner: RedisClientType) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let held = 0;
  const proxy = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'sendCommand') {
        return async (args: (string | Buffer)[], options: object) => {
          const reply: unknown = await target.sendCommand(args, options);
          if (args.some((a) => String(a) === REVOKE.sha1 || String(a) === REVOKE.source)) {
            held++;
            await gate;
          }
          return reply;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { client: proxy as unknown as RedisSessionClient, open: () => open(), held: () => held };
}

describe('RedisSessionStateStore: revokeOwner and a concurrent login', () => {
  it('a session logged in while revokeOwner runs is still found by the next revokeOwner', async () => {
    const plain = new RedisSessionStateStore({ client: client as unknown as RedisSessionClient, releaseNotifications: false });
    const owner = 'revoke-race-owner';
    const ownerKey = `sess:owner:{${owner}}`;
    const id = 'revoke-race-aaaaaaaaaaaaaaaaaaaaaa';
    // Logged in as the owner, then logged out (owner cleared); its index entry stayed behind (best effort).
    await plain.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20, owner }, null, true);
    const { lockId } = flat(await plain.getItemExclusive(id));
    await plain.setAndReleaseItemExclusive(id, { items: '{}', timeout: 20 }, lockId, false);
    // The logout's own removal (not awaited by the store) first, then the entry put back as if it had not landed.
    await vi.waitFor(async () => expect(await admin.zScore(ownerKey, id)).toBeNull());
    await admin.zAdd(ownerKey, { score: Date.now() + 3_600_000, value: id });

    // Sign-out-everywhere starts: ZRANGE, REVOKE (not the owner's now: 0), its answer held...
    const gated = gatedClient(client);
    const revoker = new RedisSessionStateStore({ client: gated.client, releaseNotifications: false });
    const revoking = revoker.revokeOwner(owner);
    await vi.waitFor(() => expect(gated.held()).toBe(1));
    // ...while the user logs in again on that session.
    const again = flat(await plain.getItemExclusive(id));
    await plain.setAndReleaseItemExclusive(id, { items: '{"user":1}', timeout: 20, owner }, again.lockId!, false);
    gated.open();
    expect(await revoking).toBe(0);
    expect(await admin.zScore(ownerKey, id)).not.toBeNull();

    // A later sign-out-everywhere removes that live session of the owner.
    expect(await plain.revokeOwner(owner)).toBe(1);
    expect((await plain.getItem(id)).kind).toBe('absent');
    expect(await admin.zScore(ownerKey, id)).toBeNull();
  });

  // The index as versions before the sorted set wrote it (a set): read and trimmed as it is.
  it('entries of absent sessions stay in the index until it expires (an index of the older kind, a set with a TTL): one may be a login under way', async () => {
    const plain = new RedisSessionStateStore({ client: client as unknown as RedisSessionClient, releaseNotifications: false });
    const owner = 'revoke-absent-owner';
    const ownerKey = `sess:owner:{${owner}}`;
    await admin.sAdd(ownerKey, ['revoke-absent-aaaaaaaaaaaaaaaaaaaa', 'revoke-absent-bbbbbbbbbbbbbbbbbbbb']);
    await admin.expire(ownerKey, 3600);
    expect(await plain.revokeOwner(owner)).toBe(0);
    expect(await admin.sCard(ownerKey)).toBe(2);
    expect(await admin.ttl(ownerKey)).toBeGreaterThan(0);
  });
});
