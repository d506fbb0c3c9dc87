import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SessionStateStoreHealth } from '../store/session-state-store.js';
import { awsErrorName } from './dynamodb-errors.js';
import type { BoundedCall } from './bounded-call.js';

/** How long a table check answers health checks before DynamoDB is asked again. */
const TABLE_HEALTH_CACHE_MS = 5_000;

/**
 * The DynamoDB store's health: the table is reachable and ACTIVE, from one `DescribeTable` (never a
 * read of the data) shared by every health check within `TABLE_HEALTH_CACHE_MS`, so frequent
 * probes from many load balancers cost one call per interval per instance.
 */
export class DynamoDBTableHealth {
  private cached: { at: number; answer: Promise<SessionStateStoreHealth> } | undefined;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly call: BoundedCall,
    private readonly tableName: string,
    private readonly clock: () => number = Date.now,
  ) {}

  check(): Promise<SessionStateStoreHealth> {
    const now = this.clock();
    if (!this.cached || now - this.cached.at >= TABLE_HEALTH_CACHE_MS) this.cached = { at: now, answer: this.describe() };
    return this.cached.answer;
  }

  private async describe(): Promise<SessionStateStoreHealth> {
    const table = this.tableName;
    try {
      const described = await this.call('DescribeTable', (options) =>
        this.client.send(new DescribeTableCommand({ TableName: this.tableName }), options),
      );
      const status = described.Table?.TableStatus ?? 'UNKNOWN';
      return { up: status === 'ACTIVE', details: { table, tableStatus: status } };
    } catch (error) {
      // The error's class tells an operator where to look; its text stays in the server's log.
      return { up: false, details: { table, error: awsErrorName(error) ?? 'Error' } };
    }
  }
}
