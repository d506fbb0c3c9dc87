import type { RedisSessionStateStoreOptions } from './redis-session-state-store.options.js';
import { refuseUnknownOptions } from '../store/store-option-keys.js';

const OPTIONS = [
  'client',
  'url',
  'clientOptions',
  'keyPrefix',
  'application',
  'ttlExtraSeconds',
  'compression',
  'maxItemBytes',
  'requestTimeoutMs',
  'connectTimeoutMs',
  'releaseNotifications',
  'ownerSweep',
  'clock',
] as const satisfies readonly (keyof RedisSessionStateStoreOptions)[];

/** connect-redis's options, and where each went (docs/MIGRATING.md). */
const CONNECT_REDIS = {
  prefix: "connect-redis's: keyPrefix",
  ttl: "connect-redis's: the module's timeout sets the session's expiry; ttlExtraSeconds adds to the key's TTL",
  disableTouch: "connect-redis's: not needed, a read slides the expiry without a write until half the timeout",
  disableTTL: "connect-redis's: the key's TTL is the session's expiry",
  serializer: "connect-redis's: values are JSON",
  scanCount: "connect-redis's: no scan (the owner index lists a user's sessions)",
};

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
  refuseUnknownOptions('RedisSessionStateStore', options, OPTIONS, CONNECT_REDIS);
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
    ownerSweepIntervalMs:
      sweep === false ? null : checkNumber('ownerSweep.intervalMs', sweep.intervalMs ?? 60_000, 1000, Math.floor(MAX_TIMER_MS / 2), true),
    clock: options.clock ?? Date.now,
  };
}

function checkNumber(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    throw new TypeError(`RedisSessionStateStore: ${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`);
  }
  return value;
}
