import type { RedisClientType } from 'redis';
import request from 'supertest';
import type { Gates } from '../support/gates.js';

interface Instance {
  http: Parameters<typeof request>[0];
  gates: Gates;
}

/** Subscribers of `channel` on `server` (sharded pub/sub). */
export const shardSubscribers = async (server: RedisClientType, channel: string) =>
  ((await server.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel])) as unknown as [string, number])[1];

/**
 * `a` holds the session of `cookie`, `b` waits for it (subscribed to `channel` on `server`); then
 * `server`'s pub/sub connections are dropped and their first reconnect refused (maxclients), and the
 * holder goes on: the waiter is served by the fallback poll, its watch closed while the subscriber is
 * down. `keptOut`: runs once the waiter answered, while the subscriber is still kept out. Answers the
 * server's client count before the drop.
 */
export async function dropSubscriberWhileLastWaiterLeaves(
  a: Instance,
  b: Instance,
  cookie: string,
  server: RedisClientType,
  channel: string,
  keptOut?: () => Promise<void>,
): Promise<number> {
  const holder = request(a.http)
    .post('/count?gate=hold')
    .set('Cookie', cookie)
    .then((r) => r);
  await a.gates.arrived('hold');
  const waiter = request(b.http)
    .post('/count')
    .set('Cookie', cookie)
    .then((r) => r);
  await vi.waitFor(async () => expect(await shardSubscribers(server, channel)).toBe(1));
  const before = Number(/connected_clients:(\d+)/.exec(await server.info('clients'))![1]);
  await server.configSet('maxclients', String(before - 1));
  try {
    await server.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    a.gates.open('hold');
    expect((await holder).status).toBe(200);
    expect((await waiter).body).toEqual({ count: 2 }); // by the fallback poll; the watch is closed now
    await keptOut?.();
  } finally {
    await server.configSet('maxclients', '10000');
  }
  return before;
}
