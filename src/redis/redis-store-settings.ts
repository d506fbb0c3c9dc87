import type { RedisSessionStateStoreOptions } from './redis-session-state-store.options.js';

/** The store's options, checked and with their defaults (see `RedisSessionStateStoreOptions`). */
export interface RedisStoreSettings {
  /** Start of every key: keyPrefix, then application and ':' when set. */
  readonly prefix: string;
  readonly ttlExtraSeconds: number;
  readonly compressionThresholdBytes: number | null;
  readonly maxItemBytes: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** null: release notifications off. */
  readonly fallbackPollMs: number | null;
  /** null: no sweep of the owner indexes by this store. */
  readonly ownerSweepIntervalMs: number | null;
  readonly clock: () => number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks the options (a `TypeError` names the wrong one) and fills in the defaults. */
export function redisStoreSettings(options: RedisSessionStateStoreOptions): RedisStoreSettings {
  if (options.client && (options.url !== undefined || options.clientOptions !== undefined)) {
    throw new TypeError('RedisSessionStateStore: give either client, or url/clientOptions (for a client the store makes), not both.');
  }
  const keyPrefix = options.keyPrefix ?? 'sess:';
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix))
    throw new TypeError('RedisSessionStateStore: keyPrefix must be a string without { or }.');
  const application = options.application || undefined;
  if (application !== undefined && (typeof application !== 'string' || /[{}]/.test(application))) {
    throw new TypeError('RedisSessionStateStore: application must be a string without { or }.');
  }
  const compression = options.compression ?? {};
  const threshold = compression === false ? null : (compression.thresholdBytes ?? 8192);
  const notifications = options.releaseNotifications ?? {};
  const sweep = options.ownerSweep ?? {};
  return {
    prefix: application === undefined ? keyPrefix : `${keyPrefix}${application}:`,
    ttlExtraSeconds: checkNumber('ttlExtraSeconds', options.ttlExtraSeconds ?? 60, 0, 86_400 * 365, true),
    compressionThresholdBytes: threshold === null ? null : checkNumber('compression.thresholdBytes', threshold, 0, Number.MAX_SAFE_INTEGER, true),
    maxItemBytes: checkNumber('maxItemBytes', options.maxItemBytes ?? 1_000_000, 1, 512 * 1024 * 1024, true),
    requestTimeoutMs: checkNumber('requestTimeoutMs', options.requestTimeoutMs ?? 2000, 1, MAX_TIMER_MS, true),
    connectTimeoutMs: checkNumber('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1, MAX_TIMER_MS, true),
    fallbackPollMs:
      notifications === false
        ? null
        : checkNumber('releaseNotifications.fallbackPollMs', notifications.fallbackPollMs ?? 1000, 2, MAX_TIMER_MS, true),
    ownerSweepIntervalMs: sweep === false ? null : checkNumber('ownerSweep.intervalMs', sweep.intervalMs ?? 60_000, 1000, MAX_TIMER_MS / 2, true),
    clock: options.clock ?? Date.now,
  };
}

function checkNumber(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    throw new TypeError(`RedisSessionStateStore: ${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
  return value;
}
