import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type KeysAndAttributes,
} from '@aws-sdk/client-dynamodb';
import { claimOwnerSlot, type OwnerSlotAnswer, type OwnerSlotBook, type OwnerSlotClaim } from '../store/owner-slots.js';
import type { BoundedCall } from './bounded-call.js';
import { isConditionFailure } from './dynamodb-errors.js';
import { deleteOwned } from './dynamodb-owner-index.js';
import { Attr, type DynamoDBItem } from './dynamodb-session-record.js';
import type { RecordAddress } from './record-expressions.js';

/**
 * maxSessionsPerOwner on DynamoDB. The owner index is eventually consistent (a count read from it
 * can miss a sign-in made a moment before), so the owner's book (store/owner-slots.ts) is an item
 * of its own, key `{application-}#owner#{owner}`, holding a map `Slots` (session id → when it took
 * its place, epoch ms), changed only by conditional writes: the claim is one `UpdateItem` whose
 * condition counts the map (`size(Slots) < cap`). It has no `Owner` attribute (it is not in the
 * index) and no TTL (an owner's sessions can live on with activity; it stays small: entries of
 * sessions found gone are removed at the cap), so it costs one item of storage per owner.
 *
 * Cost of a sign-in under the cap: one UpdateItem, 1 WCU while the book is under 1 KB (about 15
 * entries); the owner's first: one more (a PutItem). At the cap: one consistent BatchGetItem of the
 * book's sessions (1 RCU each, projected to three attributes), another UpdateItem, and a
 * conditional DeleteItem per session revoked. Other requests: nothing.
 */
const SLOTS = 'Slots';
const BOOK_MARK = '#owner#';
/** BatchGetItem reads at most 100 keys per call. */
const BATCH = 100;

export interface OwnerSlotSettings {
  readonly client: DynamoDBClient;
  readonly call: BoundedCall;
  readonly tableName: string;
  readonly address: RecordAddress;
  /** `"{application}-"`, or undefined: as `revokeOwnerSessions` takes it. */
  readonly keyPrefix: string | undefined;
  readonly clock: () => number;
}

export function claimOwnerSlotOnDynamoDB(settings: OwnerSlotSettings, claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
  const book: OwnerSlotBook = {
    clock: settings.clock,
    tryClaim: (c, dead, now) => tryClaim(settings, c, dead, now, c.replacing !== undefined),
    liveOf: (owner, ids) => liveOf(settings, owner, ids),
    revoke: async (owner, ids) => {
      const { client, call, tableName, address, keyPrefix } = settings;
      const revoke = { client, call, tableName, keyAttribute: address.keyAttribute, keyPrefix, now: settings.clock() };
      await Promise.all(ids.map((id) => deleteOwned(revoke, { S: address.keyValue(id) }, owner, revoke.now)));
    },
  };
  return claimOwnerSlot(book, claim);
}

/** Gives a place back: removes the entry (never creates the book). */
export async function releaseOwnerSlotOnDynamoDB(settings: OwnerSlotSettings, owner: string, id: string): Promise<void> {
  const { client, call, tableName, address } = settings;
  const update = new UpdateItemCommand({
    TableName: tableName,
    Key: bookKey(address, owner),
    UpdateExpression: 'REMOVE #s.#i',
    ConditionExpression: 'attribute_exists(#s)',
    ExpressionAttributeNames: { '#s': SLOTS, '#i': id },
  });
  try {
    await call('UpdateItem', (options) => client.send(update, options));
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
}

function bookKey(address: RecordAddress, owner: string): Record<string, AttributeValue> {
  return { [address.keyAttribute]: { S: `${address.keyValue('')}${BOOK_MARK}${owner}` } };
}

/**
 * One conditional UpdateItem (see `OwnerSlotBook.tryClaim`). `assumeReplacing`: the book is taken to
 * hold `replacing` (the usual case of a login that regenerates an owned session); when it does not,
 * the condition fails and the claim is sent again without it.
 */
async function tryClaim(
  settings: OwnerSlotSettings,
  claim: OwnerSlotClaim,
  dead: ReadonlyMap<string, number>,
  now: number,
  assumeReplacing: boolean,
): Promise<true | ReadonlyMap<string, number>> {
  const { client, call, tableName, address } = settings;
  const names: Record<string, string> = { '#s': SLOTS, '#i': claim.id };
  const values: Record<string, AttributeValue> = { ':now': { N: String(now) } };
  const deadChecks: string[] = [];
  const removals: string[] = [];
  let n = 0;
  for (const [id, at] of dead) {
    names[`#d${n}`] = id;
    values[`:d${n}`] = { N: String(at) };
    deadChecks.push(`#s.#d${n} = :d${n}`);
    removals.push(`#s.#d${n}`);
    n++;
  }
  let room = `size(#s) < :limit`;
  let limit = claim.max + dead.size;
  if (assumeReplacing) {
    names['#r'] = claim.replacing!;
    room = `(${room} AND attribute_exists(#s.#r))`;
    limit++;
  }
  values[':limit'] = { N: String(limit) };
  const update = new UpdateItemCommand({
    TableName: tableName,
    Key: bookKey(address, claim.owner),
    UpdateExpression: `SET #s.#i = :now${removals.length > 0 ? ` REMOVE ${removals.join(', ')}` : ''}`,
    ConditionExpression: [...deadChecks, `(attribute_exists(#s.#i) OR ${room})`].join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  let old: DynamoDBItem | undefined;
  try {
    await call('UpdateItem', (options) => client.send(update, options));
    return true;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    old = error.Item;
  }
  const slots = old?.[SLOTS]?.M;
  if (!slots) return (await createBook(settings, claim, now)) || tryClaim(settings, claim, new Map(), now, false);
  // Already in the book (an earlier attempt of this claim landed): its place is taken.
  if (slots[claim.id]) return true;
  if (assumeReplacing && !slots[claim.replacing!]) return tryClaim(settings, claim, dead, now, false);
  const entries = new Map<string, number>();
  for (const [id, at] of Object.entries(slots)) entries.set(id, Number(at.N));
  return entries;
}

/** The owner's first claim: the book with this one entry, unless another instance made it meanwhile (false). */
async function createBook({ client, call, tableName, address }: OwnerSlotSettings, claim: OwnerSlotClaim, now: number): Promise<boolean> {
  const key = bookKey(address, claim.owner);
  const put = new PutItemCommand({
    TableName: tableName,
    Item: { ...key, [SLOTS]: { M: { [claim.id]: { N: String(now) } } } },
    ConditionExpression: 'attribute_not_exists(#key)',
    ExpressionAttributeNames: { '#key': address.keyAttribute },
  });
  try {
    await call('PutItem', (options) => client.send(put, options));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Which sessions are live and `owner`'s: consistent BatchGetItem of their key items, three attributes. */
async function liveOf(
  { client, call, tableName, address, clock }: OwnerSlotSettings,
  owner: string,
  ids: readonly string[],
): Promise<ReadonlySet<string>> {
  const live = new Set<string>();
  const idOfKey = new Map(ids.map((id) => [address.keyValue(id), id]));
  const keys = [...idOfKey.keys()];
  for (let i = 0; i < keys.length; i += BATCH) {
    let request: KeysAndAttributes | undefined = {
      Keys: keys.slice(i, i + BATCH).map((key) => ({ [address.keyAttribute]: { S: key } })),
      ConsistentRead: true,
      ProjectionExpression: '#key, #owner, #expires',
      ExpressionAttributeNames: { '#key': address.keyAttribute, '#owner': Attr.owner, '#expires': Attr.expires },
    };
    while (request?.Keys?.length) {
      const batch: BatchGetItemCommand = new BatchGetItemCommand({ RequestItems: { [tableName]: request } });
      const answer: BatchGetItemCommandOutput = await call('BatchGetItem', (options) => client.send(batch, options));
      const now = clock();
      for (const item of answer.Responses?.[tableName] ?? []) {
        if (item[Attr.owner]?.S === owner && Number(item[Attr.expires]?.N) > now) live.add(idOfKey.get(item[address.keyAttribute]!.S!)!);
      }
      request = answer.UnprocessedKeys?.[tableName];
    }
  }
  return live;
}
