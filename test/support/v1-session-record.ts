import { randomUUID } from 'node:crypto';
import { PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SessionItemsCodec } from '../../src/dynamodb/session-items-codec.js';

/**
 * Writes a session exactly as version 0.1 of the DynamoDB store did (record format `Version` 1:
 * the items, gzipped over 8 KB, inside the session's one item), unlocked or locked by a request of
 * that version. A verbatim copy of 0.1's `unlockedRecord` and of the attributes its
 * `getItemExclusive` set; kept here, frozen, so upgrade tests read real version 1 records.
 */
export async function putVersion1Session(
  client: DynamoDBClient,
  fields: { tableName: string; key: string; items: string; timeout?: number; now?: number; locked?: boolean },
): Promise<{ lockId: string | null; item: Record<string, AttributeValue> }> {
  const now = fields.now ?? Date.now();
  const timeout = fields.timeout ?? 20;
  const timeoutMs = Math.round(timeout * 60_000);
  const timeoutSeconds = Math.ceil(timeoutMs / 1000);
  const ttl = Math.ceil(now / 1000) + 300 + timeoutSeconds;
  const item: Record<string, AttributeValue> = {
    SessionId: { S: fields.key },
    Items: await new SessionItemsCodec(8192, 400_000).encode(fields.items),
    Locked: { BOOL: false },
    LockDate: { N: String(now) },
    Expires: { N: String(now + timeoutMs) },
    CreateDate: { N: String(now) },
    Flags: { N: '0' },
    Timeout: { N: String(timeout) },
    TimeoutMs: { N: String(timeoutMs) },
    TimeoutSeconds: { N: String(timeoutSeconds) },
    Version: { N: '1' },
    TTL: { N: String(ttl) },
  };
  let lockId: string | null = null;
  if (fields.locked) {
    lockId = randomUUID();
    Object.assign(item, { Locked: { BOOL: true }, LockId: { S: lockId }, LockDate: { N: String(now) } });
  }
  await client.send(new PutItemCommand({ TableName: fields.tableName, Item: item }));
  return { lockId, item };
}
