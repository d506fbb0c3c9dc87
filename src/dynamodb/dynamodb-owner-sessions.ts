import { BatchGetItemCommand, type AttributeValue, type BatchGetItemCommandOutput, type KeysAndAttributes } from '@aws-sdk/client-dynamodb';
import { SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';
import type { SessionStateOwnedSession } from '../store/session-state-store.js';
import { forEachOwnerPage, type RevokeOwnerSettings } from './dynamodb-owner-index.js';
import { Attr, readRecord, type DynamoDBItem } from './dynamodb-session-record.js';

/** Keys per `BatchGetItem` (DynamoDB's limit). */
const BATCH_KEYS = 100;
/** Rounds of `UnprocessedKeys` retried before giving up (throttling). */
const MAX_BATCH_ROUNDS = 5;

/**
 * A user's sessions on DynamoDB: a `Query` of the `Owner-index` (keys only, per 1 MB page), then a
 * consistent `BatchGetItem` per 100 sessions reading only the small attributes the list needs
 * (never the items, nor a data item). No scan. A session is listed when it is live, initialised
 * and still of this owner (the index is eventually consistent).
 */
export async function listOwnerSessions(settings: RevokeOwnerSettings, owner: string): Promise<SessionStateOwnedSession[]> {
  const sessions: SessionStateOwnedSession[] = [];
  const prefixLength = settings.keyPrefix?.length ?? 0;
  await forEachOwnerPage(settings, owner, async (keys) => {
    for (let i = 0; i < keys.length; i += BATCH_KEYS) {
      for (const item of await batchGet(settings, keys.slice(i, i + BATCH_KEYS))) {
        let record;
        try {
          record = readRecord(item);
        } catch {
          continue; // a record this version cannot read is not listed (loading it replaces it)
        }
        if (record.owner !== owner || !(record.expires > settings.now) || record.flags !== 0 || !Number.isFinite(record.timeout)) continue;
        const session: { -readonly [K in keyof SessionStateOwnedSession]: SessionStateOwnedSession[K] } = {
          id: item[settings.keyAttribute]!.S!.slice(prefixLength),
          expires: record.expires,
          timeout: record.timeout,
        };
        if (record.created !== undefined) session.created = record.created;
        if (record.client !== undefined) session.client = record.client;
        sessions.push(session);
      }
    }
  });
  return sessions;
}

async function batchGet(settings: RevokeOwnerSettings, keys: AttributeValue[]): Promise<DynamoDBItem[]> {
  const { client, call, tableName, keyAttribute } = settings;
  const items: DynamoDBItem[] = [];
  let request: KeysAndAttributes | undefined = {
    Keys: keys.map((key) => ({ [keyAttribute]: key })),
    ConsistentRead: true,
    ProjectionExpression: '#key, #version, #expires, #timeout, #owner, #flags, #created, #client',
    ExpressionAttributeNames: {
      '#key': keyAttribute,
      '#version': Attr.version,
      '#expires': Attr.expires,
      '#timeout': Attr.timeout,
      '#owner': Attr.owner,
      '#flags': Attr.flags,
      '#created': Attr.created,
      '#client': Attr.client,
    },
  };
  for (let round = 0; request?.Keys?.length; round++) {
    if (round === MAX_BATCH_ROUNDS) {
      throw new SessionStateStoreUnavailableError(`DynamoDB left keys of table "${tableName}" unprocessed ${MAX_BATCH_ROUNDS} times (throttled).`);
    }
    const command: BatchGetItemCommand = new BatchGetItemCommand({ RequestItems: { [tableName]: request } });
    const answer: BatchGetItemCommandOutput = await call('BatchGetItem', (options) => client.send(command, options));
    items.push(...(answer.Responses?.[tableName] ?? []));
    request = answer.UnprocessedKeys?.[tableName];
  }
  return items;
}
