/**
 * The stores refuse option keys they do not have, naming where connect-redis's and connect-dynamodb's
 * went (docs/MIGRATING.md), as the module refuses express-session's; and a boolean option that is not a
 * boolean (`createIfNotExists: 'false'` from `ConfigService.get()`, which would create the table).
 * Options built outside an object literal (JavaScript, configuration) escape TypeScript's excess-property
 * check: an old name was ignored, the sessions kept under another prefix or in another table (review R40).
 */
import { redisStoreSettings } from '../../src/redis/redis-store-settings.js';
import { storeSettings } from '../../src/dynamodb/dynamodb-store-settings.js';
import { DynamoDBSessionStateStore } from '../../src/dynamodb/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';

function constructionError(make: () => unknown): string {
  try {
    make();
  } catch (error) {
    return (error as Error).message;
  }
  return '(accepted)';
}

describe('store options refuse unknown keys, naming the connect-redis / connect-dynamodb replacement', () => {
  it('RedisSessionStateStore refuses connect-redis’s prefix and ttl, and a typo', () => {
    const connectRedis: Record<string, unknown> = { url: 'redis://127.0.0.1:6379', prefix: 'shop:', ttl: 3600 };
    const message = constructionError(() => new RedisSessionStateStore(connectRedis as never));
    expect(message).toMatch(/prefix/);
    expect(message).toMatch(/keyPrefix/);
    expect(message).toMatch(/ttl/);
    const typo: Record<string, unknown> = { url: 'redis://127.0.0.1:6379', keyprefix: 'shop:' };
    expect(constructionError(() => new RedisSessionStateStore(typo as never))).toMatch(/keyprefix/);
  });

  it('DynamoDBSessionStateStore refuses connect-dynamodb’s table, prefix and hashKey', () => {
    const connectDynamo: Record<string, unknown> = { table: 'sessions', prefix: 'shop:', hashKey: 'id', clientConfig: { region: 'us-east-1' } };
    const message = constructionError(() => new DynamoDBSessionStateStore(connectDynamo as never));
    expect(message).toMatch(/table\b.*tableName|tableName.*table\b/s);
    expect(message).toMatch(/hashKey/);
  });

  // `ConfigService.get()` answers `any`, so `createIfNotExists: config.get('SESSION_CREATE_TABLE')` compiles and
  // passes the string 'false', which the store takes as true (it creates the table); `consistentReads: 'false'`
  // goes to the SDK as a string. The module refuses such values at startup; the stores check only numbers.
  it('DynamoDBSessionStateStore refuses non-boolean createIfNotExists / consistentReads (the string "false")', () => {
    const fromEnv: Record<string, unknown> = { clientConfig: { region: 'us-east-1' }, createIfNotExists: 'false' };
    expect(constructionError(() => new DynamoDBSessionStateStore(fromEnv as never))).toMatch(/createIfNotExists/);
    const reads: Record<string, unknown> = { clientConfig: { region: 'us-east-1' }, consistentReads: 'false' };
    expect(constructionError(() => new DynamoDBSessionStateStore(reads as never))).toMatch(/consistentReads/);
  });

  it('ownerSweep.intervalMs’s error names a whole-number bound (it says "to 1073741823.5")', () => {
    const message = constructionError(() => new RedisSessionStateStore({ url: 'redis://127.0.0.1:6379', ownerSweep: { intervalMs: 2 ** 30 } }));
    expect(message).toMatch(/ownerSweep\.intervalMs must be an integer from 1000 to \d+\.$/);
  });
});

describe('store options that are not a plain own-keyed object (review R41)', () => {
  it.each([
    ['RedisSessionStateStore', (o: unknown) => new RedisSessionStateStore(o as never)],
    ['DynamoDBSessionStateStore', (o: unknown) => new DynamoDBSessionStateStore(o as never)],
  ])('%s(null): a TypeError naming the store', (name, make) => {
    expect(() => make(null)).toThrow(new RegExp(name));
  });

  it("RedisSessionStateStore(Object.create({ prefix: 'shop:' })): connect-redis's prefix refused, as an own key is", () => {
    expect(() => new RedisSessionStateStore(Object.create({ prefix: 'shop:' }) as never)).toThrow(/unknown option prefix/);
  });
});

describe('store options an app built before the checks (review R42)', () => {
  it('an unknown key whose value is undefined (an optional config value left unset) changes nothing: not refused (Redis)', () => {
    const config: Record<string, string | undefined> = { REDIS_URL: 'redis://127.0.0.1:6379' };
    // e.g. options kept from connect-redis, whose prefix was optional and is unset in this environment
    expect(() => redisStoreSettings({ url: config.REDIS_URL, prefix: config.SESSION_PREFIX } as never)).not.toThrow();
  });

  it('an unknown key whose value is undefined: not refused (DynamoDB)', () => {
    const env: Record<string, string | undefined> = {};
    expect(() => storeSettings({ tableName: 'sessions', clientConfig: { region: 'us-east-1' }, table: env.SESSION_TABLE } as never)).not.toThrow();
  });

  it('options made by a constructor function with a method on its prototype (enumerable, inherited): the method is no option key', () => {
    function StoreConfig(this: Record<string, unknown>) {
      this.tableName = 'sessions';
      this.clientConfig = { region: 'us-east-1' };
    }
    (StoreConfig.prototype as Record<string, unknown>).toString = function () {
      return 'StoreConfig';
    };
    const options = new (StoreConfig as unknown as new () => object)();
    expect(() => storeSettings(options as never)).not.toThrow();
  });
});
