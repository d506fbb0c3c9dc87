/**
 * `nestjs-session-state/redis`: the Redis store. A separate entry point, so that an application on
 * another store never installs or loads `redis` (an optional peer dependency).
 */
export { RedisSessionStateStore } from './redis-session-state.store.js';
export type { OwnerSweepResult } from './redis-owner-sweep.js';
export type { RedisSessionClient, RedisSessionStateStoreOptions } from './redis-session-state-store.options.js';
export { fromIoredis, type IoredisLike } from './ioredis-client.js';
