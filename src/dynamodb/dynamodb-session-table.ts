import { setTimeout as delay } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import { SessionStateError } from '../errors/session-state.errors.js';
import { awsErrorName } from './dynamodb-errors.js';
import type { BoundedCall } from './bounded-call.js';
import { ensureOwnerIndex, OWNER_ATTRIBUTE_DEFINITION, OWNER_INDEX } from './dynamodb-owner-index.js';

export interface SessionTableSettings {
  readonly client: DynamoDBClient;
  readonly call: BoundedCall;
  readonly logger: Logger;
  readonly tableName: string;
  readonly keyAttribute: string;
  readonly ttlAttribute: string;
  readonly createIfNotExists: boolean;
}

/** How long `init()` waits for a table being created to become ACTIVE. */
const ACTIVE_WAIT_MS = 120_000;

/**
 * Makes sure the session table is usable. Without `createIfNotExists`: one `DescribeTable` that
 * checks it exists with the expected key schema. With it: creates the table when missing
 * (on-demand billing), waits until ACTIVE, checks the key schema, and enables TTL.
 */
export async function prepareSessionTable(settings: SessionTableSettings): Promise<void> {
  const { client, call, logger, tableName, keyAttribute } = settings;
  let table = await describeTable(settings);
  if (!table) {
    if (!settings.createIfNotExists) {
      throw new SessionStateError(
        `DynamoDB table "${tableName}" does not exist. Create it with ${expectedSchema(keyAttribute)}, ` +
          'or set createIfNotExists: true to let the session store create it.',
      );
    }
    try {
      const created = await call('CreateTable', (options) =>
        client.send(
          new CreateTableCommand({
            TableName: tableName,
            AttributeDefinitions: [{ AttributeName: keyAttribute, AttributeType: 'S' }, OWNER_ATTRIBUTE_DEFINITION],
            KeySchema: [{ AttributeName: keyAttribute, KeyType: 'HASH' }],
            GlobalSecondaryIndexes: [OWNER_INDEX],
            BillingMode: 'PAY_PER_REQUEST',
          }),
          options,
        ),
      );
      table = created.TableDescription;
      logger.log(`Created DynamoDB table "${tableName}" (on-demand billing).`);
    } catch (error) {
      // Another instance created it at the same moment: fine, use theirs.
      if (awsErrorName(error) !== 'ResourceInUseException') throw error;
    }
  }
  if (table?.TableStatus !== 'ACTIVE') table = await waitUntilActive(settings);
  checkKeySchema(table, tableName, keyAttribute);
  await ensureOwnerIndex(settings, table);
  if (settings.createIfNotExists) await enableTimeToLive(settings);
}

async function describeTable({ client, call, tableName }: SessionTableSettings): Promise<TableDescription | undefined> {
  try {
    const describe = new DescribeTableCommand({ TableName: tableName });
    return (await call('DescribeTable', (options) => client.send(describe, options))).Table;
  } catch (error) {
    if (awsErrorName(error) === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

async function waitUntilActive(settings: SessionTableSettings): Promise<TableDescription> {
  const deadline = Date.now() + ACTIVE_WAIT_MS;
  for (let pause = 250; ; pause = Math.min(pause * 2, 5_000)) {
    const table = await describeTable(settings);
    if (table?.TableStatus === 'ACTIVE') return table;
    if (Date.now() + pause > deadline) {
      throw new SessionStateError(
        `DynamoDB table "${settings.tableName}" did not become ACTIVE within ${ACTIVE_WAIT_MS / 1000} s ` +
          `(status: ${table?.TableStatus ?? 'not found'}).`,
      );
    }
    await delay(pause);
  }
}

function checkKeySchema(table: TableDescription, tableName: string, keyAttribute: string): void {
  const keys = table.KeySchema ?? [];
  const typeOf = (name: string | undefined) => table.AttributeDefinitions?.find((definition) => definition.AttributeName === name)?.AttributeType;
  const [hash] = keys;
  if (keys.length === 1 && hash?.KeyType === 'HASH' && hash.AttributeName === keyAttribute && typeOf(keyAttribute) === 'S') return;
  const actual = keys.map((k) => `${k.KeyType} key "${k.AttributeName}" of type ${typeOf(k.AttributeName) ?? '?'}`).join(', ');
  throw new SessionStateError(
    `DynamoDB table "${tableName}" has the wrong key schema for the session store: it has ${actual || 'no key'}, ` +
      `but the store needs ${expectedSchema(keyAttribute)}. Use another table, or set keyAttribute to match.`,
  );
}

function expectedSchema(keyAttribute: string): string {
  return `exactly one HASH key "${keyAttribute}" of type S (string) and no RANGE key`;
}

async function enableTimeToLive({ client, call, logger, tableName, ttlAttribute }: SessionTableSettings): Promise<void> {
  const described = await call('DescribeTimeToLive', (options) => client.send(new DescribeTimeToLiveCommand({ TableName: tableName }), options));
  const { TimeToLiveStatus: status, AttributeName: current } = described.TimeToLiveDescription ?? {};
  if (status === 'ENABLED' || status === 'ENABLING') {
    if (current !== ttlAttribute) {
      logger.warn(
        `DynamoDB table "${tableName}" has TTL on attribute "${current}", not on "${ttlAttribute}": ` +
          'expired sessions will not be deleted by DynamoDB (they still read as absent).',
      );
    }
    return;
  }
  if (status === 'DISABLING') {
    logger.warn(`TTL of DynamoDB table "${tableName}" is being disabled; it cannot be enabled now. Expired sessions still read as absent.`);
    return;
  }
  try {
    await call('UpdateTimeToLive', (options) =>
      client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { Enabled: true, AttributeName: ttlAttribute },
        }),
        options,
      ),
    );
  } catch (error) {
    // Several instances starting at once: another one enabled it between our look and our update.
    if (/already enabled/i.test((error as Error).message)) return;
    throw error;
  }
  logger.log(`Enabled TTL on attribute "${ttlAttribute}" of DynamoDB table "${tableName}".`);
}
