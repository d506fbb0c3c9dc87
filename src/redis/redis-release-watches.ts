import type { Logger } from '@nestjs/common';
import type { SessionStateReleaseWatch } from '../store/session-state-store.js';
import type { RedisSessionClient } from './redis-session-state-store.options.js';
import { withinTime } from '../store/within-time.js';

type Listener = () => void;

/** How long waiters poll without trying to subscribe after a subscription failed. */
const RETRY_AFTER_FAILURE_MS = 5_000;

/** The pub/sub side of a client, standalone or cluster alike. */
interface PubSubClient {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'node-ready', listener: () => void): unknown;
  sSubscribe(channel: string, listener: Listener): Promise<void>;
  sUnsubscribe(channel: string, listener: Listener): Promise<void>;
  subscribe(channel: string, listener: Listener): Promise<void>;
  unsubscribe(channel: string, listener: Listener): Promise<void>;
}

/** The watches of one channel, and its listener while subscribed. */
interface Channel {
  readonly watches: Set<ReleaseWatch>;
  readonly listener: Listener;
  readonly subscribed: Promise<void>;
}

/**
 * The store's one subscriber connection (a duplicate of its client, made on first use): a channel
 * per session, subscribed only while a waiter of this process watches it (sharded `SSUBSCRIBE`,
 * so a cluster delivers it from the session's shard; `SUBSCRIBE` on a server without it). node-redis
 * resubscribes after a reconnect; what is published meanwhile is lost, and the watches' fallback
 * pause covers it.
 */
export class RedisReleaseWatches {
  private subscriber: Promise<PubSubClient> | undefined;
  /** The duplicate, from its making on: close() destroys it even while its first connect is pending (Redis down). */
  private duplicate: PubSubClient | undefined;
  private readonly channels = new Map<string, Channel>();
  private sharded = true;
  private closed = false;
  /** Until when (Date.now()) watches are refused after a failed subscription. */
  private failedUntil = 0;
  /**
   * Unsubscriptions that failed (sent while the connection was down): the client still lists their
   * listener and subscribes it again when it reconnects, so they are sent again once it is ready.
   */
  private readonly failedDrops = new Map<Listener, string>();

  constructor(
    private readonly client: RedisSessionClient,
    private readonly fallbackPollMs: number,
    private readonly requestTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * A watch on `channel`, once the subscription is active; while the store cannot subscribe (refused by
   * the ACL, not confirmed within `requestTimeoutMs`, or in the few seconds after such a failure), a watch
   * that checks at the fallback pace, as after a lost message, and subscribes at a later check if it can
   * (review R38: such a waiter polled at the module's `lockWait` pace, 20 to 40 times as often, for its whole wait).
   */
  async watch(channel: string): Promise<SessionStateReleaseWatch> {
    if (this.closed) throw new Error('The store is closed.');
    return this.subscribed(channel).catch(() => new UnsubscribedWatch(this.fallbackPollMs, (signal) => this.trySubscribed(channel, signal)));
  }

  /** A subscribed watch on `channel`, or undefined when the store cannot subscribe now (or `signal` aborted first). */
  private async trySubscribed(channel: string, signal: AbortSignal): Promise<SessionStateReleaseWatch | undefined> {
    if (this.closed) return undefined;
    const attempt = this.subscribed(channel).catch(() => undefined);
    const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
    const watch = await Promise.race([attempt, aborted]);
    // Aborted first: a subscription that still comes through is given up at once.
    if (!watch) void attempt.then((late) => late?.close());
    return watch;
  }

  /** A watch on `channel`, once the subscription is active; rejects when it cannot be had now. */
  private async subscribed(channel: string): Promise<SessionStateReleaseWatch> {
    // After a failure, waiters check at the fallback pace for a while rather than each waiting out a subscription attempt.
    if (Date.now() < this.failedUntil) throw new Error('Release notifications are unavailable for now.');
    let entry = this.channels.get(channel);
    if (!entry) {
      const watches = new Set<ReleaseWatch>();
      const listener = () => watches.forEach((w) => w.released());
      const subscribed = this.subscribe(channel, listener);
      this.channels.set(channel, (entry = { watches, listener, subscribed }));
      subscribed.catch(() => {
        if (this.channels.get(channel) === entry) this.channels.delete(channel);
      });
    }
    try {
      await withinTime(entry.subscribed, this.requestTimeoutMs, () => {
        throw new Error(`No subscription within ${this.requestTimeoutMs} ms.`);
      });
    } catch (error) {
      this.failedUntil = Date.now() + RETRY_AFTER_FAILURE_MS;
      const late = entry;
      if (late.watches.size === 0 && this.channels.get(channel) === late) {
        // Given up on: a subscription that still comes through is dropped again.
        this.channels.delete(channel);
        late.subscribed.then(() => this.drop(channel, late.listener)).catch(() => undefined);
      }
      throw error;
    }
    const watch = new ReleaseWatch(this.fallbackPollMs, () => this.leave(channel, entry, watch));
    entry.watches.add(watch);
    return watch;
  }

  /** Drops the subscriber connection, connected or not (never waits on it); watches still open answer by their fallback pause. */
  close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    this.failedDrops.clear();
    this.destroy();
    return Promise.resolve();
  }

  private destroy(): void {
    const duplicate = this.duplicate;
    this.duplicate = undefined;
    try {
      duplicate?.destroy();
    } catch {
      // Already closed (its connect gave up): nothing left to release.
    }
  }

  private leave(channel: string, entry: Channel, watch: ReleaseWatch): void {
    entry.watches.delete(watch);
    if (entry.watches.size > 0 || this.channels.get(channel) !== entry) return;
    this.channels.delete(channel);
    this.drop(channel, entry.listener);
  }

  /** Unsubscribes `listener`; if that fails, again when the connection is next ready (see `failedDrops`). */
  private drop(channel: string, listener: Listener): void {
    this.unsubscribe(channel, listener).catch(() => {
      if (!this.closed) this.failedDrops.set(listener, channel);
    });
  }

  private dropFailedAgain(): void {
    for (const [listener, channel] of this.failedDrops) {
      this.failedDrops.delete(listener);
      this.drop(channel, listener);
    }
  }

  private async unsubscribe(channel: string, listener: Listener): Promise<void> {
    const subscriber = await this.connection();
    await (this.sharded ? subscriber.sUnsubscribe(channel, listener) : subscriber.unsubscribe(channel, listener));
  }

  private async subscribe(channel: string, listener: Listener): Promise<void> {
    const subscriber = await this.connection();
    if (this.sharded) {
      try {
        return await subscriber.sSubscribe(channel, listener);
      } catch (error) {
        if (!/unknown command/i.test(String((error as Error)?.message))) throw error;
        this.sharded = false; // Redis < 7: the scripts PUBLISH
      }
    }
    await subscriber.subscribe(channel, listener);
  }

  private connection(): Promise<PubSubClient> {
    this.subscriber ??= (async () => {
      if (this.closed) throw new Error('The store is closed.');
      const subscriber = (this.duplicate = (this.client as unknown as { duplicate(): PubSubClient }).duplicate());
      // A dropped connection is retried by node-redis; meanwhile waiters fall back to polling.
      subscriber.on('error', (error) => this.logger.debug?.(`Release notifications: ${error.message}`));
      // A standalone client says 'ready'; a cluster's says 'node-ready' for each of its node clients
      // (sharded subscriptions live on those), never 'ready'.
      subscriber.on('ready', () => this.dropFailedAgain());
      subscriber.on('node-ready', () => this.dropFailedAgain());
      await subscriber.connect();
      if (this.closed) throw new Error('The store is closed.'); // close() destroyed it meanwhile
      return subscriber;
    })().catch((error: unknown) => {
      this.subscriber = undefined;
      this.destroy(); // a connect that failed leaves no client behind
      throw error;
    });
    return this.subscriber;
  }
}

/** One waiter's watch: a release seen since its last `next` is kept until asked for. */
class ReleaseWatch implements SessionStateReleaseWatch {
  private pending = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly fallbackPollMs: number,
    readonly close: () => void,
  ) {}

  released(): void {
    this.pending = true;
    this.wake?.();
  }

  next(signal: AbortSignal): Promise<'released' | 'timeout' | 'aborted'> {
    if (signal.aborted) return Promise.resolve('aborted');
    if (this.pending) {
      this.pending = false;
      return Promise.resolve('released');
    }
    return new Promise((resolve) => {
      const done = (answer: 'released' | 'timeout' | 'aborted') => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        if (answer === 'released') this.pending = false;
        resolve(answer);
      };
      const onAbort = () => done('aborted');
      // Equal jitter: waiters of several instances do not check in step.
      const timer = setTimeout(() => done('timeout'), this.fallbackPollMs / 2 + Math.random() * (this.fallbackPollMs / 2));
      signal.addEventListener('abort', onAbort, { once: true });
      this.wake = () => done('released');
    });
  }
}

/**
 * A waiter's watch while the store cannot subscribe: each `next` answers `timeout` after the fallback
 * pause (the waiter then checks the lock), and first tries to subscribe; once subscribed it answers as a
 * subscribed watch does. The subscription comes before the check that follows it, so a release after
 * that check is heard.
 */
class UnsubscribedWatch implements SessionStateReleaseWatch {
  private readonly pause: ReleaseWatch;
  private watch: SessionStateReleaseWatch | undefined;
  private closed = false;

  constructor(
    fallbackPollMs: number,
    private readonly subscribe: (signal: AbortSignal) => Promise<SessionStateReleaseWatch | undefined>,
  ) {
    this.pause = new ReleaseWatch(fallbackPollMs, () => undefined); // never released: only its pause
  }

  async next(signal: AbortSignal): Promise<'released' | 'timeout' | 'aborted'> {
    if (this.watch) return this.watch.next(signal);
    const answer = await this.pause.next(signal);
    if (answer !== 'timeout' || this.closed) return answer;
    const watch = await this.subscribe(signal);
    if (this.closed) watch?.close();
    else this.watch = watch;
    return signal.aborted ? 'aborted' : 'timeout';
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = undefined;
  }
}
