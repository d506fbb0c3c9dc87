import type { ConfigService } from '@nestjs/config';
import { InMemorySessionStateStore, type SessionStateStore } from 'nestjs-session-state';
import { DynamoDBSessionStateStore } from 'nestjs-session-state/dynamodb';

/**
 * `SESSION_STORE=memory` (default): one process. `SESSION_STORE=dynamodb`: the production store,
 * configured by `SESSION_TABLE`, `SESSION_APPLICATION`, `AWS_REGION`, `DYNAMODB_ENDPOINT` (DynamoDB
 * Local) and `SESSION_CREATE_TABLE=true` (create the table at startup; in production create it
 * with your infrastructure code instead).
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
    default:
      throw new Error(`SESSION_STORE must be 'memory' or 'dynamodb', not '${kind}'.`);
  }
}
