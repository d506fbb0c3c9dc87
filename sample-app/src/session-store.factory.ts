import type { ConfigService } from '@nestjs/config';
import { InMemorySessionStateStore, type SessionStateStore } from 'nestjs-session-state';
import { DynamoDBSessionStateStore } from 'nestjs-session-state/dynamodb';
import { RedisSessionStateStore } from 'nestjs-session-state/redis';

/**
 * `SESSION_STORE=memory` (default): one process. `SESSION_STORE=dynamodb`: the production store,
 * configured by `SESSION_TABLE`, `SESSION_APPLICATION`, `AWS_REGION`, `DYNAMODB_ENDPOINT` (DynamoDB
 * Local) and `SESSION_CREATE_TABLE=true` (create the table at startup; in production create it
 * with your infrastructure code instead). `SESSION_STORE=redis`: Redis at `REDIS_URL` (default
 * `redis://127.0.0.1:6379`), keys prefixed by `sess:` and `SESSION_APPLICATION`; the store makes the
 * client from the URL, connects it at startup and closes it at shutdown (docs/REDIS.md).
 */
export function createSessionStore(config: ConfigService): SessionStateStore {
  const kind = config.get<string>('SESSION_STORE', 'memory');
  switch (kind) {
    case 'memory':
      return new InMemorySessionStateStore();
    case 'dynamodb':
      return new DynamoDBSessionStateStore({
        tableName: config.get<string>('SESSION_TABLE', 'nestjs-session-state'),
        application: config.get<string>('SESSION_APPLICATION'),
        createIfNotExists: config.get<string>('SESSION_CREATE_TABLE') === 'true',
        clientConfig: {
          region: config.get<string>('AWS_REGION', 'us-east-1'),
          endpoint: config.get<string>('DYNAMODB_ENDPOINT'),
        },
      });
    case 'redis':
      return new RedisSessionStateStore({
        url: config.get<string>('REDIS_URL', 'redis://127.0.0.1:6379'),
        application: config.get<string>('SESSION_APPLICATION'),
      });
    default:
      throw new Error(`SESSION_STORE must be 'memory', 'dynamodb' or 'redis', not '${kind}'.`);
  }
}
