/**
 * An owned session's entry in the owner index is renewed when a slide passes its horizon, about once
 * per timeout of activity, by whichever call slides it. After a release or a read-only expiry refresh
 * that is one round trip: the script that found the index due answers the owner with it (the store
 * used to read the owner first, an `HMGET`: two round trips). Commands counted at the client.
 */
import { createClient, type RedisClientType } from 'redis';
import { RedisSessionStateStore, type RedisSessionClient } from '../../src/redis/index.js';
import * as scripts from '../../src/redis/redis-scripts.js';
import { generateSessionId } from '../../src/session/session-id.js';
import { flat } from '../../src/testing/flat-store-answer.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const MINUTE = 60_000;
const names = new Map(Object.values(scripts).flatMap((s) => (typeof s === 'object' && 'sha1' in s ? [[s.sha1, s.name] as const] : [])));

let server: RedisServer;
let admin: RedisClientType;
let client: RedisClientType;
let store: RedisSessionStateStore;
let offsetMs = 0;
/** The commands the store sent (scripts by name), once `recording`. */
const sent: string[] = [];
let recording = false;

beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  client = createClient({ url: server.url });
  await Promise.all([admin.connect(), client.connect()]);
  const counted = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property !== 'sendCommand') return typeof value === 'function' ? value.bind(target) : value;
      return (args: (string | Buffer)[], options: unknown) => {
        if (recording) sent.push(args[0] === 'EVALSHA' || args[0] === 'EVAL' ? `script ${names.get(String(args[1])) ?? 'source'}` : String(args[0]));
        return target.sendCommand(args, options as never);
      };
    },
  });
  store = new RedisSessionStateStore({ client: counted as unknown as RedisSessionClient, clock: () => Date.now() + offsetMs });
  await store.init();
});
afterAll(async () => {
  await store?.close();
  admin?.destroy();
  client?.destroy();
  await server?.stop();
});

/** An owned session (timeout 30 min) whose next slide passes its index horizon, and whose lock does not slide it (expiry > 10 min away). */
async function dueSession(): Promise<{ id: string; owner: string }> {
  offsetMs = 0;
  const id = generateSessionId();
  const owner = `owner-${generateSessionId()}`;
  await store.setAndReleaseItemExclusive(id, { items: '{"n":1}', timeout: 30, owner }, null, true);
  // A write 27 minutes later slides the expiry to 57 minutes; the index, made for 60, is not due yet.
  offsetMs = 27 * MINUTE;
  const { lockId } = flat(await store.getItemExclusive(id));
  await store.setAndReleaseItemExclusive(id, { items: '{"n":2}', timeout: 30, owner }, lockId, false);
  // 45 minutes: the expiry (57) is 12 minutes away, so a lock does not slide it; a slide now (to 75) passes the index (60).
  offsetMs = 45 * MINUTE;
  return { id, owner };
}

async function recorded(call: () => Promise<unknown>): Promise<string[]> {
  sent.length = 0;
  recording = true;
  try {
    await call();
  } finally {
    recording = false;
  }
  return [...sent];
}

describe('RedisSessionStateStore: the owner index renewed by a release or a read-only refresh', () => {
  beforeAll(async () => {
    // Each script's first call is EVALSHA, NOSCRIPT, then EVAL: not what is counted here.
    const released = await dueSession();
    await store.releaseItemExclusive(released.id, flat(await store.getItemExclusive(released.id)).lockId!);
    await store.resetItemTimeout((await dueSession()).id);
  });

  it('a release that finds the index due renews it in one more round trip (no read of the owner)', async () => {
    const { id, owner } = await dueSession();
    const { lockId } = flat(await store.getItemExclusive(id));
    const before = Number(await admin.zScore(`sess:owner:{${owner}}`, id));
    const commands = await recorded(() => store.releaseItemExclusive(id, lockId!));
    expect(commands.sort()).toEqual(['script index-owner', 'script reap-register', 'script release'].sort());
    expect(Number(await admin.zScore(`sess:owner:{${owner}}`, id))).toBeGreaterThan(before);
  });

  it('a read-only refresh (resetItemTimeout) that finds the index due renews it in one more round trip', async () => {
    const { id, owner } = await dueSession();
    const before = Number(await admin.zScore(`sess:owner:{${owner}}`, id));
    const commands = await recorded(() => store.resetItemTimeout(id));
    expect(commands.sort()).toEqual(['script index-owner', 'script reap-register', 'script reset'].sort());
    expect(Number(await admin.zScore(`sess:owner:{${owner}}`, id))).toBeGreaterThan(before);
  });
});
