import {
  DeleteItemCommand,
  QueryCommand,
  UpdateTableCommand,
  type AttributeDefinition,
  type AttributeValue,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import { SessionStateStoreMisconfiguredError } from '../errors/session-state.errors.js';
import { isWellFormedSessionId } from '../session/session-id.js';
import { awsErrorName, isConditionFailure } from './dynamodb-errors.js';
import { Attr } from './dynamodb-session-record.js';
import type { BoundedCall } from './bounded-call.js';
import { attemptsOf } from './write-tokens.js';

/**
 * Sign out everywhere on DynamoDB: a sparse global secondary index on the top-level string
 * attribute `Owner` of a session's key item. Only items with an owner are in it (an index costs
 * writes and storage only for them), and it projects only the keys: revoking is one `Query` of
 * the index (per 1 MB page of keys) and one conditional `DeleteItem` per session.
 */
const OWNER_INDEX_NAME = 'Owner-index';

/** The index as `CreateTable` and `UpdateTable` declare it. */
export const OWNER_INDEX: GlobalSecondaryIndex = {
  IndexName: OWNER_INDEX_NAME,
  KeySchema: [{ AttributeName: Attr.owner, KeyType: 'HASH' }],
  Projection: { ProjectionType: 'KEYS_ONLY' },
};

export const OWNER_ATTRIBUTE_DEFINITION: AttributeDefinition = { AttributeName: Attr.owner, AttributeType: 'S' };

/** The AWS CLI command that adds the index to an existing on-demand table (also in docs/DYNAMODB.md). */
function ownerIndexUpdateCommand(tableName: string): string {
  return (
    `aws dynamodb update-table --table-name ${tableName} ` +
    `--attribute-definitions AttributeName=${Attr.owner},AttributeType=S ` +
    `--global-secondary-index-updates '[{"Create":{"IndexName":"${OWNER_INDEX_NAME}",` +
    `"KeySchema":[{"AttributeName":"${Attr.owner}","KeyType":"HASH"}],"Projection":{"ProjectionType":"KEYS_ONLY"}}}]'`
  );
}

export interface OwnerIndexSettings {
  readonly client: DynamoDBClient;
  readonly call: BoundedCall;
  readonly logger: Logger;
  readonly tableName: string;
  readonly createIfNotExists: boolean;
}

/**
 * At startup, on a table that exists: adds the index with `createIfNotExists` (DynamoDB builds it in
 * the background; revoking works once it is ACTIVE), otherwise says how to add it. Sessions work
 * without it; what finds an owner's sessions (`revokeOwner`, `SessionManager`, the cap's first count) needs it.
 */
export async function ensureOwnerIndex(settings: OwnerIndexSettings, table: TableDescription): Promise<void> {
  const { logger, tableName } = settings;
  if (table.GlobalSecondaryIndexes?.some((index) => index.IndexName === OWNER_INDEX_NAME)) return;
  if (!settings.createIfNotExists) {
    logger.warn(
      `DynamoDB table "${tableName}" has no "${OWNER_INDEX_NAME}" index: SessionRevoker.revokeOwner and SessionManager will fail, ` +
        `and maxSessionsPerOwner counts only sessions signed in from now on, until it is added: ` +
        ownerIndexUpdateCommand(tableName),
    );
    return;
  }
  const provisioned = table.BillingModeSummary?.BillingMode !== 'PAY_PER_REQUEST' && table.ProvisionedThroughput?.ReadCapacityUnits;
  try {
    await addOwnerIndex(settings, provisioned ? table : undefined);
  } catch (error) {
    // Sessions work without the index (another instance may be adding it right now): never block startup for it.
    logger.warn(
      `Could not add index "${OWNER_INDEX_NAME}" to DynamoDB table "${tableName}" (${awsErrorName(error) ?? 'Error'}): ` +
        `SessionRevoker.revokeOwner needs it. Add it with: ${ownerIndexUpdateCommand(tableName)}`,
    );
    return;
  }
  logger.log(`Adding index "${OWNER_INDEX_NAME}" to DynamoDB table "${tableName}" (for SessionRevoker.revokeOwner).`);
}

/** `UpdateTable` that creates the index; `provisioned`: the table whose throughput the index copies. */
async function addOwnerIndex({ client, call, tableName }: OwnerIndexSettings, provisioned: TableDescription | undefined): Promise<void> {
  await call('UpdateTable', (options) =>
    client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [OWNER_ATTRIBUTE_DEFINITION],
        GlobalSecondaryIndexUpdates: [
          {
            Create: {
              ...OWNER_INDEX,
              // A provisioned table needs the index's throughput: the table's own.
              ...(provisioned
                ? {
                    ProvisionedThroughput: {
                      ReadCapacityUnits: provisioned.ProvisionedThroughput!.ReadCapacityUnits,
                      WriteCapacityUnits: provisioned.ProvisionedThroughput!.WriteCapacityUnits,
                    },
                  }
                : {}),
            },
          },
        ],
      }),
      options,
    ),
  );
}

export interface RevokeOwnerSettings {
  readonly client: DynamoDBClient;
  readonly call: BoundedCall;
  readonly tableName: string;
  readonly keyAttribute: string;
  /** `"{application}-"` when the table is shared by applications: only this one's sessions are revoked (see `isOwnKey`). */
  readonly keyPrefix: string | undefined;
  readonly now: number;
}

/** Sessions deleted at once while revoking. */
const DELETE_CONCURRENCY = 10;

/**
 * Deletes every live session of `owner`; answers how many. Each delete is conditional on the item
 * still having this owner and being unexpired, so a session that changed hands meanwhile stays
 * and an expired one is left to TTL (and not counted). The index is eventually consistent: a
 * session given its owner a moment (typically well under a second) before may be missed.
 */
export async function revokeOwnerSessions(settings: RevokeOwnerSettings, owner: string, onRemoved?: (key: string) => void): Promise<number> {
  let removed = 0;
  await forEachOwnerPage(settings, owner, async (keys) => {
    for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
      const chunk = keys.slice(i, i + DELETE_CONCURRENCY);
      const deleted = await Promise.all(chunk.map((key) => deleteOwned(settings, key, owner, settings.now)));
      deleted.forEach((gone, n) => gone && onRemoved?.(chunk[n]!.S!));
      removed += deleted.filter(Boolean).length;
    }
  });
  return removed;
}

/**
 * Queries the owner index, one page (up to 1 MB of keys) at a time, and hands `visit` the keys of
 * this application's sessions on each page. Without the index: `SessionStateStoreMisconfiguredError`
 * saying how to add it.
 */
export async function forEachOwnerPage(
  settings: Omit<RevokeOwnerSettings, 'now'>,
  owner: string,
  visit: (keys: AttributeValue[]) => Promise<void>,
): Promise<void> {
  const { client, call, tableName, keyAttribute, keyPrefix } = settings;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const query = new QueryCommand({
      TableName: tableName,
      IndexName: OWNER_INDEX_NAME,
      KeyConditionExpression: '#owner = :owner',
      ...(keyPrefix === undefined ? {} : { FilterExpression: 'begins_with(#key, :prefix)' }),
      ExpressionAttributeNames: { '#owner': Attr.owner, ...(keyPrefix === undefined ? {} : { '#key': keyAttribute }) },
      ExpressionAttributeValues: { ':owner': { S: owner }, ...(keyPrefix === undefined ? {} : { ':prefix': { S: keyPrefix } }) },
      ExclusiveStartKey: startKey,
    });
    let page;
    try {
      page = await call('Query', (options) => client.send(query, options));
    } catch (error) {
      if (awsErrorName(error) === 'ValidationException' && /index/i.test(String((error as Error).message))) {
        throw new SessionStateStoreMisconfiguredError(
          `DynamoDB table "${tableName}" has no "${OWNER_INDEX_NAME}" index, which revokeOwner and listOwnerSessions need. ` +
            `Add it (once; DynamoDB builds it in the background): ${ownerIndexUpdateCommand(tableName)}`,
          { cause: error },
        );
      }
      throw error;
    }
    const keys = (page.Items ?? []).map((item) => item[keyAttribute]).filter((key) => key?.S !== undefined && isOwnKey(key.S, keyPrefix));
    await visit(keys as AttributeValue[]);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}

/**
 * Whether a key of the index is one of this application's sessions: its prefix (none: the bare id)
 * followed by a whole session id. A prefix alone is not enough: `begins_with(key, "shop-")` also
 * matches application `shop-admin`'s keys, and an unprefixed application's filter would match every
 * application's. Session ids have a fixed length, so the key says whose it is.
 */
function isOwnKey(key: string, keyPrefix: string | undefined): boolean {
  const prefix = keyPrefix ?? '';
  return key.startsWith(prefix) && isWellFormedSessionId(key.slice(prefix.length));
}

/** Deletes one session if it is still `owner`'s and live; answers whether it did. */
export async function deleteOwned(
  settings: Omit<RevokeOwnerSettings, 'keyPrefix' | 'now'>,
  key: AttributeValue,
  owner: string,
  now: number,
): Promise<boolean> {
  const { client, call, tableName, keyAttribute } = settings;
  const remove = new DeleteItemCommand({
    TableName: tableName,
    Key: { [keyAttribute]: key },
    // Whether it is locked does not matter: the holder's save is fenced by its lock id, which goes with the item.
    ConditionExpression: '#owner = :owner AND #expires > :now',
    ExpressionAttributeNames: { '#owner': Attr.owner, '#expires': Attr.expires },
    ExpressionAttributeValues: { ':owner': { S: owner }, ':now': { N: String(now) } },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  try {
    await call('DeleteItem', (options) => client.send(remove, options));
    return true;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    // Refused on an absent item after more than one attempt: an earlier attempt got no answer (a
    // condition failure is never retried) and most likely deleted it. Answering true is safe even
    // when it did not: no session of that id exists, so it is signed out, and its place in the
    // owner's book is rightly given back. (A delete has no write token to tell for sure.)
    return error.Item === undefined && attemptsOf(error) > 1;
  }
}
