import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Attr, LEGACY_WRITE_PREFIX, WRITE_SLOT_NAMES } from './dynamodb-session-record.js';
import type { DynamoDBSessionStateStoreOptions } from './dynamodb-session-state-store.options.js';
import { SessionItemsCodec } from './session-items-codec.js';
import { booleanOption, refuseUnknownOptions } from '../store/store-option-keys.js';

const STORE = 'DynamoDBSessionStateStore';
const OPTIONS = [
  'tableName',
  'application',
  'createIfNotExists',
  'client',
  'clientConfig',
  'keyAttribute',
  'ttlAttribute',
  'ttlExtraSeconds',
  'consistentReads',
  'compression',
  'maxItemBytes',
  'requestTimeoutMs',
  'maxAttempts',
  'clock',
] as const satisfies readonly (keyof DynamoDBSessionStateStoreOptions)[];

/** connect-dynamodb's options, and where each went (docs/MIGRATING.md). */
const CONNECT_DYNAMODB = {
  table: "connect-dynamodb's: tableName",
  hashKey: "connect-dynamodb's: keyAttribute",
  prefix: "connect-dynamodb's: application (one table shared by several applications)",
  readCapacityUnits: "connect-dynamodb's: the table createIfNotExists makes is on-demand",
  writeCapacityUnits: "connect-dynamodb's: the table createIfNotExists makes is on-demand",
  AWSConfigJSON: "connect-dynamodb's: clientConfig",
  AWSRegion: "connect-dynamodb's: clientConfig.region",
};

/** DynamoDB's hard limit on the size of one item. */
const DYNAMODB_ITEM_LIMIT = 409_600;

/** The store's options, checked and with their defaults (see `DynamoDBSessionStateStoreOptions`). */
export interface DynamoDBStoreSettings {
  readonly tableName: string;
  readonly application: string | undefined;
  readonly createIfNotExists: boolean;
  readonly keyAttribute: string;
  readonly ttlAttribute: string;
  readonly ttlExtraSeconds: number;
  readonly consistentReads: boolean;
  readonly codec: SessionItemsCodec;
  readonly maxItemBytes: number;
  readonly requestTimeoutMs: number;
  readonly clock: () => number;
}

/** Checks the options (a `TypeError` names the wrong one) and fills in the defaults. */
export function storeSettings(options: DynamoDBSessionStateStoreOptions): DynamoDBStoreSettings {
  refuseUnknownOptions(STORE, options, OPTIONS, CONNECT_DYNAMODB);
  const compression = options.compression ?? {};
  const threshold = compression === false ? null : (compression.thresholdBytes ?? 8192);
  const maxItemBytes = checkNumber('maxItemBytes', options.maxItemBytes ?? 400_000, 1, DYNAMODB_ITEM_LIMIT, true);
  const settings: DynamoDBStoreSettings = {
    tableName: nonEmpty('tableName', options.tableName ?? 'nestjs-session-state'),
    application: options.application || undefined,
    createIfNotExists: booleanOption(STORE, 'createIfNotExists', options.createIfNotExists, false),
    keyAttribute: nonEmpty('keyAttribute', options.keyAttribute ?? 'SessionId'),
    ttlAttribute: nonEmpty('ttlAttribute', options.ttlAttribute ?? 'TTL'),
    ttlExtraSeconds: checkNumber('ttlExtraSeconds', options.ttlExtraSeconds ?? 300, 0, Number.MAX_SAFE_INTEGER, true),
    consistentReads: booleanOption(STORE, 'consistentReads', options.consistentReads, true),
    codec: new SessionItemsCodec(
      threshold === null ? null : checkNumber('compression.thresholdBytes', threshold, 0, Number.MAX_SAFE_INTEGER, true),
      maxItemBytes,
    ),
    maxItemBytes,
    requestTimeoutMs: checkNumber('requestTimeoutMs', options.requestTimeoutMs ?? 5000, 1, 2 ** 31 - 1, false),
    clock: options.clock ?? Date.now,
  };
  const reserved = Object.values(Attr) as string[];
  for (const [name, value] of [
    ['keyAttribute', settings.keyAttribute],
    ['ttlAttribute', settings.ttlAttribute],
  ] as const) {
    if (reserved.includes(value) || WRITE_SLOT_NAMES.includes(value) || value.startsWith(LEGACY_WRITE_PREFIX)) {
      throw new TypeError(`DynamoDBSessionStateStore: ${name} "${value}" is one of the record's own attributes.`);
    }
  }
  return settings;
}

/**
 * The client the store builds from `clientConfig` when it is given none (it then owns and destroys
 * it): short attempts, so a stalled connection is retried within each call's overall bound.
 */
export function buildClient(options: DynamoDBSessionStateStoreOptions, requestTimeoutMs: number): DynamoDBClient {
  const config = options.clientConfig ?? {};
  const attempts = options.maxAttempts ?? (config.maxAttempts as number | undefined) ?? 3;
  const maxAttempts = checkNumber('maxAttempts', attempts, 1, 100, true);
  const client = new DynamoDBClient({
    ...config,
    maxAttempts,
    requestHandler: config.requestHandler ?? {
      connectionTimeout: Math.min(2000, requestTimeoutMs),
      requestTimeout: Math.max(1000, Math.floor(requestTimeoutMs / maxAttempts)),
      throwOnRequestTimeout: true,
    },
  });
  // The SDK's logger middleware filters every call's input and output for its log line even when
  // nothing logs (the default logger's `info` is a no-op): a fifth of the SDK's CPU per call here,
  // measured. Without a logger of the app's, it goes.
  if (!config.logger) client.middlewareStack.remove('loggerMiddleware');
  return client;
}

function nonEmpty(name: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`DynamoDBSessionStateStore: ${name} must be a non-empty string.`);
  }
  return value;
}

function checkNumber(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'an integer' : 'a number';
    throw new TypeError(`DynamoDBSessionStateStore: ${name} must be ${kind} from ${min} to ${max}.`);
  }
  return value;
}
