import { randomBytes } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { DynamoDBSessionStateStore, type DynamoDBSessionStateStoreOptions } from '../../src/dynamodb/index.js';
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

/** A test file's own table, from {@link useDynamoDBTable}. */
export interface DynamoDBTestTable {
  /** The run's DynamoDB Local client config (a copy is given to each store). */
  readonly clientConfig: DynamoDBClientConfig;
  readonly tableName: string;
  /** A store on the table: the file's defaults, then `options`; destroyed after the test that made it. */
  createStore(options?: DynamoDBSessionStateStoreOptions): DynamoDBSessionStateStore;
}

/**
 * A fresh table for the test file that calls it at its top (it registers the hooks): created before
 * its tests, deleted after them; each store `createStore()` makes is destroyed after its test.
 * `defaults` go to every store (a clock, say). A file's own raw client or proxy stays in the file.
 */
export async function useDynamoDBTable(prefix: string, defaults: DynamoDBSessionStateStoreOptions = {}): Promise<DynamoDBTestTable> {
  const clientConfig = await localClientConfig();
  const tableName = uniqueTableName(prefix);
  const stores: DynamoDBSessionStateStore[] = [];
  const createStore = (options: DynamoDBSessionStateStoreOptions = {}) => {
    const store = new DynamoDBSessionStateStore({ clientConfig: { ...clientConfig }, tableName, ...defaults, ...options });
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    await createStore({ createIfNotExists: true }).init();
  });
  // Registered before the file's own hooks, so it runs after them (vitest runs after-hooks as a stack).
  afterEach(() => {
    for (const store of stores.splice(0)) store.destroy();
  });
  afterAll(() => deleteTable(tableName));
  return { clientConfig, tableName, createStore };
}
