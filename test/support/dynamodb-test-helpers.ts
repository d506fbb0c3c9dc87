import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { dynamoDBLocalClientConfig, waitUntilAnswers } from './dynamodb-local.js';

let ready: Promise<string> | undefined;

/**
 * The run's DynamoDB Local endpoint (see `dynamodb-local.global-setup.ts`), once it answers.
 * Throws why it is not available. Use at the top of a test file: `const endpoint = await dynamoDBEndpoint();`
 */
export function dynamoDBEndpoint(): Promise<string> {
  ready ??= (async () => {
    const endpoint = inject('dynamodbEndpoint');
    if (!endpoint) {
      throw new Error(`DynamoDB Local is not running: ${inject('dynamodbLocalError') || 'its globalSetup is not configured'}.`);
    }
    await waitUntilAnswers(endpoint);
    return endpoint;
  })();
  return ready;
}

/** Client config for the run's DynamoDB Local, once it answers. */
export async function localClientConfig(): Promise<DynamoDBClientConfig> {
  return dynamoDBLocalClientConfig(await dynamoDBEndpoint());
}

/** A table name no other test file uses. */
export function uniqueTableName(prefix = 'sessions'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Deletes a test table (missing is fine). */
export async function deleteTable(tableName: string): Promise<void> {
  const client = new DynamoDBClient(await localClientConfig());
  try {
    await client.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  } finally {
    client.destroy();
  }
}
