/**
 * Found by review R5: revokeOwner took out of the owner index the entries whose session REVOKE found
 * ABSENT (result 3); now only those it removed. With maxSessionsPerOwner, a login's claim enters its id in the index BEFORE its save:
 * revokeOwner may read it (ZRANGE), find it absent (REVOKE: 3), and, while revokeOwner waits for its
 * other REVOKEs, the login saves and indexes the session (INDEX_OWNER: entry raised to its horizon, `u`
 * set in the hash). revokeOwner's UNINDEX_OWNER then removes that entry. The session lives, its hash
 * says it is indexed (`u`), so no write re-indexes it for about a timeout of activity: every later
 * sign-out-everywhere (and listOwnerSessions) missed it. The interleaving is forced by holding
 * revokeOwner's UNINDEX_OWNER (sent for another session of the owner, which it did remove) until the
 * login is done (an order a real server cannot produce on cue).
 */
import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore, type RedisSessionClient } from '../../src/redis/index.js';
import { UNINDEX_OWNER } from '../../src/redis/redis-scripts.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

let server: RedisServer;
let admin: RedisClientType;
let client: RedisClientType;
const stores: RedisSessionStateStore[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  client = createClient({ url: server.url });
  await Promise.all([admin.connect(), client.connect()]);
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  admin?.destroy();
  client?.destroy();
  await server?.stop();
});

/** The client, with UNINDEX_OWNER held before it is sent until `open()`; `reached` resolves when one is held. */
function gatedClient(inner: RedisClientType) {
  let open!: () => void;
  let reach!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const proxy = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'sendCommand') {
        return async (args: (string | Buffer)[], options: object) => {
          if (args.some((a) => String(a) === UNINDEX_OWNER.sha1 || String(a) === UNINDEX_OWNER.source)) {
            reach();
            await gate;
          }
          return target.sendCommand(args, options);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { client: proxy as unknown as RedisSessionClient, open: () => open(), reached };
}

describe('revokeOwner racing a login whose claim is indexed before its save', () => {
  it('the session logged in meanwhile is still found by the NEXT revokeOwner (its entry was removed as "absent")', async () => {
    const gated = gatedClient(client);
    const revoker = new RedisSessionStateStore({ client: gated.client, releaseNotifications: false, ownerSweep: false });
    const login = new RedisSessionStateStore({ url: server.url, releaseNotifications: false, ownerSweep: false });
    stores.push(revoker, login);
    await Promise.all([revoker.init(), login.init()]);
    const owner = 'alice';
    const id = generateSessionId();
    // Another device of the owner, signed in earlier: this sign-out removes it (and sends UNINDEX_OWNER).
    const earlier = generateSessionId();
    await login.setAndReleaseItemExclusive(earlier, { items: '{}', timeout: 20, owner }, null, true);

    // The login's claim (maxSessionsPerOwner): the id enters the index before the session is saved.
    const claim = await login.claimOwnerSlot({ owner, id, max: 5, policy: 'refuse', pendingMs: 110_000, keepMs: 20 * 60_000 });
    expect(claim.admitted).toBe(true);
    expect(await admin.zScore(`sess:owner:{${owner}}`, id)).not.toBeNull();

    // Sign out everywhere starts: reads the index, REVOKE finds the id absent (3); its UNINDEX is held.
    const revoking = revoker.revokeOwner(owner);
    await gated.reached;
    // The login's save lands, and indexes the session (its entry raised, `u` written in its hash).
    await login.setAndReleaseItemExclusive(id, { items: '{"user":"alice"}', timeout: 20, owner }, null, true);
    gated.open();
    expect(await revoking).toBe(1); // the earlier device; the login was not live when revokeOwner looked: acceptable
    expect(await admin.zScore(`sess:owner:{${owner}}`, earlier)).toBeNull();

    // The session lives, and is used (a request: lock, save): nothing re-indexes it (its `u` still covers it)...
    const held = await login.getItemExclusive(id);
    expect(held.kind).toBe('acquired');
    if (held.kind === 'acquired') await login.setAndReleaseItemExclusive(id, { ...held.item, items: '{"user":"alice","n":1}' }, held.lockId, false);
    expect((await login.getItem(id)).kind).toBe('loaded');
    // ...so sign-out-everywhere must reach it now: its index entry is still there.
    expect(await admin.zScore(`sess:owner:{${owner}}`, id)).not.toBeNull();
    expect((await login.listOwnerSessions(owner)).map((s) => s.id)).toEqual([id]);
    expect(await login.revokeOwner(owner)).toBe(1);
    expect((await login.getItem(id)).kind).toBe('absent');
  });
});
