import { UNTIMED_COMMANDS } from './redis-commands.js';
import type { RedisSessionClient } from './redis-session-state-store.options.js';

/**
 * The part of an ioredis client (`new Redis()` or `new Cluster()`, ioredis 5 or 6) the adapter uses.
 * Structural, so this file never loads ioredis: the application passes its own client.
 */
export interface IoredisLike {
  readonly status: string;
  /** True on a cluster client. */
  readonly isCluster?: boolean;
  /** A cluster client's options (`shardedSubscribers` is read); typed loosely: a standalone client's have none of it. */
  readonly options?: object;
  connect(): Promise<unknown>;
  disconnect(): void;
  duplicate(): IoredisLike;
  callBuffer(command: string, args: (string | Buffer | number)[]): Promise<unknown>;
  ssubscribe(...channels: string[]): Promise<unknown>;
  sunsubscribe(...channels: string[]): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

type Listener = () => void;

/**
 * An ioredis client as the store's client (`client: fromIoredis(redis)`): a thin adapter, since
 * the store needs only raw commands (`callBuffer`: replies as Buffers, like the node-redis client's
 * with its type mapping), the connection state, and a duplicate for pub/sub. Commands are bounded by
 * the store's own timer (ioredis has no per-command timeout); ioredis resubscribes after a reconnect
 * by itself. The store never closes the client; it closes the duplicate it made.
 *
 * On Redis Cluster, an ioredis `Cluster` routes each command by its key (a session's keys share a
 * slot), and its release notices need `shardedSubscribers: true`: without it, ioredis sends every
 * `SSUBSCRIBE` over one connection to any node, and a waiter would hear no release (only the slow
 * fallback poll would serve it). Such a client is refused here, by name.
 */
export function fromIoredis(client: IoredisLike): RedisSessionClient {
  if (client.isCluster === true && (client.options as { shardedSubscribers?: unknown } | undefined)?.shardedSubscribers !== true) {
    throw new TypeError(
      'fromIoredis: an ioredis Cluster needs `shardedSubscribers: true` (new Cluster(nodes, { shardedSubscribers: true })): ' +
        "the store's waiters are woken by sharded pub/sub (SSUBSCRIBE), which ioredis routes to each slot's node only with that option.",
    );
  }
  const listeners = new Map<string, Set<Listener>>();
  let listening = false;
  const listen = () => {
    if (listening) return;
    listening = true;
    const deliver = (channel: string) => listeners.get(channel)?.forEach((l) => l());
    client.on('smessage', deliver as (...args: never[]) => void);
    client.on('message', deliver as (...args: never[]) => void);
  };
  const add = async (channel: string, listener: Listener, subscribe: (channel: string) => Promise<unknown>) => {
    listen();
    let set = listeners.get(channel);
    if (!set) listeners.set(channel, (set = new Set()));
    set.add(listener);
    if (set.size > 1) return;
    try {
      await subscribe(channel);
    } catch (error) {
      // Not subscribed: no listener stays behind for a later subscription to call.
      set.delete(listener);
      if (set.size === 0 && listeners.get(channel) === set) listeners.delete(channel);
      throw error;
    }
  };
  const remove = async (channel: string, listener: Listener, unsubscribe: (channel: string) => Promise<unknown>) => {
    const set = listeners.get(channel);
    if (!set?.delete(listener) || set.size > 0) return;
    listeners.delete(channel);
    try {
      await unsubscribe(channel);
    } catch (error) {
      // Still subscribed (ioredis forgets a channel only when its unsubscription is answered, and
      // subscribes it again at each reconnect): the listener goes back, so that the store's retry once
      // the connection is ready finds it and sends the unsubscription again (review R38).
      const again = listeners.get(channel);
      if (again) again.add(listener);
      else listeners.set(channel, new Set([listener]));
      throw error;
    }
  };
  const adapter = {
    [UNTIMED_COMMANDS]: true,
    get isOpen() {
      return client.status !== 'wait' && client.status !== 'end';
    },
    get isReady() {
      return client.status === 'ready';
    },
    connect: () => (client.status === 'wait' ? client.connect() : Promise.resolve()),
    destroy: () => client.disconnect(),
    duplicate: () => fromIoredis(client.duplicate()),
    sendCommand: ([command, ...args]: (string | Buffer)[]) => client.callBuffer(String(command), args),
    on: (event: string, listener: (error: Error) => void) => client.on(event, listener as (...args: never[]) => void),
    sSubscribe: (channel: string, listener: Listener) => add(channel, listener, (c) => client.ssubscribe(c)),
    sUnsubscribe: (channel: string, listener: Listener) => remove(channel, listener, (c) => client.sunsubscribe(c)),
    subscribe: (channel: string, listener: Listener) => add(channel, listener, (c) => client.subscribe(c)),
    unsubscribe: (channel: string, listener: Listener) => remove(channel, listener, (c) => client.unsubscribe(c)),
  };
  return adapter as unknown as RedisSessionClient;
}
