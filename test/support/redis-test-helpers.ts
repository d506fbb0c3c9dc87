import { Redis } from 'ioredis';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import { fromIoredis, RedisSessionStateStore, type RedisSessionClient } from '../../src/redis/index.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

/** Commands the server processed, by name, from `INFO commandstats` (what reached Redis, not what the store meant to send). */
export async function commandCalls(client: RedisClientType): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
  return calls;
}

/**
 * Scripts the server ran while `send` ran: the store's round trips (each contract call is one
 * script; the commands a script calls inside it are counted by Redis too, so they are left out).
 */
export async function scriptsDuring(client: RedisClientType, send: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await commandCalls(client);
  await send();
  const after = await commandCalls(client);
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0);
    if (d > 0 && (name === 'evalsha' || name === 'eval')) delta[name] = d;
  }
  return delta;
}

/** Session keys under `pattern` whose lock field is set: a lock left behind. */
export async function locksLeft(client: RedisClientType, pattern = 'sess:*'): Promise<number> {
  let locked = 0;
  for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
    for (const key of keys) if ((await client.type(key)) === 'hash' && (await client.hExists(key, 'l'))) locked++;
  }
  return locked;
}

/**
 * The commands that reached the server from its clients while `send` ran (MONITOR: a script's own
 * commands, shown as `lua`, are not round trips and are left out), by name. `url`: the server.
 * A marker command after `send` shows when the feed has caught up (no waiting on time).
 */
export async function roundTripsDuring(url: string, send: () => Promise<unknown>): Promise<Record<string, number>> {
  const monitor = createClient({ url });
  const marker = createClient({ url });
  await Promise.all([monitor.connect(), marker.connect()]);
  const calls: Record<string, number> = {};
  let caughtUp!: () => void;
  const done = new Promise<void>((resolve) => (caughtUp = resolve));
  await monitor.monitor((line: string) => {
    const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
    if (!m || m[1] === 'lua') return;
    if (/"echo" "round-trips-marker"$/i.test(line)) return caughtUp();
    const name = m[2]!.toLowerCase();
    calls[name] = (calls[name] ?? 0) + 1;
  });
  try {
    await send();
    await marker.echo('round-trips-marker');
    await done;
    return calls;
  } finally {
    monitor.destroy();
    marker.destroy();
  }
}

/**
 * A connected client of the application as the store takes it (node-redis, or ioredis through
 * `fromIoredis`), on `port` (a proxy's, say), reconnecting at once (10 ms) when its connection drops;
 * its close goes to `closers`.
 */
export async function reconnectingClient(kind: 'ioredis' | 'node-redis', port: number, closers: (() => unknown)[]): Promise<RedisSessionClient> {
  if (kind === 'ioredis') {
    const ioredis = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 10 });
    closers.push(() => ioredis.disconnect());
    await ioredis.connect();
    return fromIoredis(ioredis);
  }
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: () => 10 } });
  client.on('error', () => undefined);
  closers.push(() => client.destroy());
  await client.connect();
  return client as unknown as RedisSessionClient;
}

/** A redis-server of its own, an admin client on it, and one store on the test's clock (its `init()` done). */
export interface ClockedRedis {
  server: RedisServer;
  admin: RedisClientType;
  store: RedisSessionStateStore;
}

export async function startClockedRedis(clock: () => number): Promise<ClockedRedis> {
  const server = await startRedisServer();
  const admin: RedisClientType = createClient({ url: server.url });
  await admin.connect();
  const store = new RedisSessionStateStore({ url: server.url, clock });
  await store.init();
  return { server, admin, store };
}

export async function stopClockedRedis(redis: Partial<ClockedRedis>): Promise<void> {
  await redis.store?.close();
  redis.admin?.destroy();
  await redis.server?.stop();
}

/** A redis-server of the spec's own and an admin client on it, for all its tests (started before them, stopped after). */
export function useRedisServer(): { readonly server: RedisServer; readonly admin: RedisClientType } {
  let server: RedisServer | undefined;
  let admin: RedisClientType | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
    admin = createClient({ url: server.url });
    await admin.connect();
  });
  afterAll(async () => {
    admin?.destroy();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get admin() {
      return admin!;
    },
  };
}
