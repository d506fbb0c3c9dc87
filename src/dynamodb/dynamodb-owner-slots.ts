import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type KeysAndAttributes,
} from '@aws-sdk/client-dynamodb';
import {
  claimOwnerSlot,
  movesUnderWay,
  type OwnerSessionsFound,
  type OwnerSlotAnswer,
  type OwnerSlotBook,
  type OwnerSlotClaim,
  type OwnerSlotEntries,
} from '../store/owner-slots.js';
import { SessionStateStoreMisconfiguredError } from '../errors/session-state.errors.js';
import type { BoundedCall } from './bounded-call.js';
import { isConditionFailure } from './dynamodb-errors.js';
import { deleteOwned, forEachOwnerPage } from './dynamodb-owner-index.js';
import { Attr, type DynamoDBItem } from './dynamodb-session-record.js';
import type { RecordAddress } from './record-expressions.js';

/**
 * maxSessionsPerOwner on DynamoDB. The owner index is eventually consistent (a count read from it
 * can miss a sign-in made a moment before), so the owner's book (store/owner-slots.ts) is an item
 * of its own, key `{application-}#owner#{owner}`, holding a map `Slots` (session id → when it took
 * its place, epoch ms), changed only by conditional writes: the claim is one `UpdateItem` whose
 * condition counts the map (`size(Slots) < cap`). It has no `Owner` attribute (it is not in the
 * index). Its TTL (the table's TTL attribute) is set by every claim to the claimed session's
 * lifetime (`claim.keepMs`), so an abandoned owner's book goes with its sessions; a book that went
 * while sessions of its owner live on (kept alive by activity) is made again at the next claim,
 * starting with those sessions (a Query of the owner index: the same as for the sessions signed in
 * before the cap). Entries of sessions revoked (`revokeOwner`, `revokeItem`) are removed at once.
 * A login that moves an owned session records its move as an attribute of the book, `Moved#{new id}`
 * = the id it replaces (top-level: a nested path cannot be set in a map a book written before lacks),
 * removed with the new id's entry. Other claims count such a pair once while the move is under way
 * (store/owner-slots.ts): a condition cannot count pairs by itself, so a claim that read the book
 * sends the pairs it counted once and the condition checks that each still stands, allowing one
 * entry more for each (the book changed: another round, as for any change).
 *
 * Cost of a sign-in under the cap: one UpdateItem, 1 WCU while the book is under 1 KB (about 15
 * entries); the owner's first (or after its book expired): a Query of the owner index and a
 * PutItem. At the cap: one consistent BatchGetItem of the book's sessions (projected to four small
 * attributes), another UpdateItem, and a conditional DeleteItem per session revoked. Other
 * requests: nothing. A revocation that removed sessions: one UpdateItem more.
 */
const SLOTS = 'Slots';
/** A move's attribute: `Moved#{new id}` = the id it replaces. */
const MOVE_MARK = 'Moved#';
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
  /** The table's TTL attribute (epoch seconds), and the seconds it is set beyond the expiry. */
  readonly ttlAttribute: string;
  readonly ttlExtraSeconds: number;
}

/** Entries (and their moves) removed per UpdateItem when places are given back in bulk (an expression stays far under 4 KB). */
const RELEASE_CHUNK = 50;

export function claimOwnerSlotOnDynamoDB(settings: OwnerSlotSettings, claim: OwnerSlotClaim): Promise<OwnerSlotAnswer> {
  // The book as this claim's last round read it: its moves under way are sent in the next condition.
  let seen: OwnerSlotEntries | undefined;
  const book: OwnerSlotBook = {
    clock: settings.clock,
    tryClaim: async (c, dead, now) => {
      const answer = await tryClaim(settings, c, dead, now, c.replacing !== undefined, seen);
      if (answer !== true) seen = answer;
      return answer;
    },
    liveOf: (owner, ids, absoluteMs) => liveOf(settings, owner, ids, absoluteMs),
    revoke: async (owner, ids) => {
      const { client, call, tableName, address, keyPrefix } = settings;
      const revoke = { client, call, tableName, keyAttribute: address.keyAttribute, keyPrefix, now: settings.clock() };
      await Promise.all(ids.map((id) => deleteOwned(revoke, { S: address.keyValue(id) }, owner, revoke.now)));
    },
  };
  return claimOwnerSlot(book, claim);
}

/** Gives a place back: removes the entry (never creates the book); `movedTo`: the move's record settled with it, in the same UpdateItem. */
export function releaseOwnerSlotOnDynamoDB(settings: OwnerSlotSettings, owner: string, id: string, movedTo?: string): Promise<void> {
  return releaseOwnerSlotsOnDynamoDB(settings, owner, [id], movedTo);
}

/** Gives the places of `ids` back (sessions revoked): one UpdateItem per 50, never creating the book. */
export async function releaseOwnerSlotsOnDynamoDB(
  settings: OwnerSlotSettings,
  owner: string,
  ids: readonly string[],
  movedTo?: string,
): Promise<void> {
  const { client, call, tableName, address } = settings;
  for (let i = 0; i < ids.length; i += RELEASE_CHUNK) {
    const chunk = ids.slice(i, i + RELEASE_CHUNK);
    const names: Record<string, string> = { '#s': SLOTS };
    const paths: string[] = [];
    chunk.forEach((id, n) => {
      names[`#i${n}`] = id;
      names[`#m${n}`] = MOVE_MARK + id;
      paths.push(`#s.#i${n}`, `#m${n}`);
    });
    if (movedTo !== undefined && i === 0) {
      names['#settled'] = MOVE_MARK + movedTo;
      paths.push('#settled');
    }
    const update = new UpdateItemCommand({
      TableName: tableName,
      Key: bookKey(address, owner),
      UpdateExpression: `REMOVE ${paths.join(', ')}`,
      ConditionExpression: 'attribute_exists(#s)',
      ExpressionAttributeNames: names,
    });
    try {
      await call('UpdateItem', (options) => client.send(update, options));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
}

function bookKey(address: RecordAddress, owner: string): Record<string, AttributeValue> {
  return { [address.keyAttribute]: { S: `${address.keyValue('')}${BOOK_MARK}${owner}` } };
}

/**
 * One conditional UpdateItem (see `OwnerSlotBook.tryClaim`). `assumeReplacing`: the book is taken to
 * hold `replacing` (the usual case of a login that regenerates an owned session); when it does not,
 * the condition fails and the claim is sent again without it. `seen`: the book as the last round
 * read it, whose moves under way (less the dead) the condition counts once if they still stand.
 */
async function tryClaim(
  settings: OwnerSlotSettings,
  claim: OwnerSlotClaim,
  dead: ReadonlyMap<string, number>,
  now: number,
  assumeReplacing: boolean,
  seen: OwnerSlotEntries | undefined,
): Promise<true | OwnerSlotEntries> {
  const { client, call, tableName, address } = settings;
  const names: Record<string, string> = { '#s': SLOTS, '#i': claim.id, '#ttl': settings.ttlAttribute };
  const values: Record<string, AttributeValue> = { ':now': { N: String(now) }, ':ttl': { N: String(bookTtl(settings, claim, now)) } };
  const deadChecks: string[] = [];
  const removals: string[] = [];
  let n = 0;
  for (const [id, at] of dead) {
    names[`#d${n}`] = id;
    names[`#e${n}`] = MOVE_MARK + id;
    values[`:d${n}`] = { N: String(at) };
    deadChecks.push(`#s.#d${n} = :d${n}`);
    removals.push(`#s.#d${n}`, `#e${n}`);
    n++;
  }
  const roomChecks = [`size(#s) < :limit`];
  let limit = claim.max + dead.size;
  if (assumeReplacing) {
    names['#r'] = claim.replacing!;
    roomChecks.push('attribute_exists(#s.#r)');
    limit++;
  }
  if (seen) {
    const entries = new Map([...seen.entries].filter(([id]) => !dead.has(id)));
    movesUnderWay({ entries, moves: seen.moves }, claim, now).forEach(([moved, from], k) => {
      names[`#pn${k}`] = moved;
      names[`#po${k}`] = from;
      names[`#pm${k}`] = MOVE_MARK + moved;
      values[`:pm${k}`] = { S: from };
      roomChecks.push(`attribute_exists(#s.#pn${k})`, `attribute_exists(#s.#po${k})`, `#pm${k} = :pm${k}`);
      limit++;
    });
  }
  const room = roomChecks.length === 1 ? roomChecks[0] : `(${roomChecks.join(' AND ')})`;
  values[':limit'] = { N: String(limit) };
  let set = 'SET #s.#i = :now, #ttl = :ttl';
  if (claim.replacing !== undefined) {
    names['#mv'] = MOVE_MARK + claim.id;
    values[':mv'] = { S: claim.replacing };
    set += ', #mv = :mv';
  }
  const update = new UpdateItemCommand({
    TableName: tableName,
    Key: bookKey(address, claim.owner),
    UpdateExpression: `${set}${removals.length > 0 ? ` REMOVE ${removals.join(', ')}` : ''}`,
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
  if (!slots) return (await createBook(settings, claim, now)) ?? tryClaim(settings, claim, new Map(), now, false, undefined);
  // Already in the book (an earlier attempt of this claim landed): its place is taken.
  if (slots[claim.id]) return true;
  if (assumeReplacing && !slots[claim.replacing!]) return tryClaim(settings, claim, dead, now, false, seen);
  const entries = new Map<string, number>();
  for (const [id, at] of Object.entries(slots)) entries.set(id, Number(at.N));
  const moves = new Map<string, string>();
  for (const [name, value] of Object.entries(old!))
    if (name.startsWith(MOVE_MARK) && value.S !== undefined) moves.set(name.slice(MOVE_MARK.length), value.S);
  return { entries, moves };
}

/**
 * The owner's first claim (or the first since its book expired): the book, starting with the
 * sessions the owner already has (from the owner index, scored 0: the oldest), and this claim's entry
 * if they leave room (answers true), else without it (answers the book, for the check at the cap).
 * Undefined when another instance made the book meanwhile.
 */
async function createBook(settings: OwnerSlotSettings, claim: OwnerSlotClaim, now: number): Promise<true | OwnerSlotEntries | undefined> {
  const { client, call, tableName, address } = settings;
  const entries = new Map<string, number>();
  const prefixLength = settings.keyPrefix?.length ?? 0;
  try {
    await forEachOwnerPage({ ...settings, keyAttribute: address.keyAttribute }, claim.owner, async (keys) => {
      for (const key of keys) entries.set(key.S!.slice(prefixLength), 0);
    });
  } catch (error) {
    // A table without the owner index (the store warned at startup): the cap counts from sign-ins on.
    if (!(error instanceof SessionStateStoreMisconfiguredError)) throw error;
  }
  entries.delete(claim.id);
  const others = entries.size - (claim.replacing !== undefined && entries.has(claim.replacing) ? 1 : 0);
  const admitted = others < claim.max;
  if (admitted) entries.set(claim.id, now);
  const slots: Record<string, AttributeValue> = {};
  for (const [id, at] of entries) slots[id] = { N: String(at) };
  const move = admitted && claim.replacing !== undefined ? { [MOVE_MARK + claim.id]: { S: claim.replacing } } : {};
  const put = new PutItemCommand({
    TableName: tableName,
    Item: {
      ...bookKey(address, claim.owner),
      [SLOTS]: { M: slots },
      [settings.ttlAttribute]: { N: String(bookTtl(settings, claim, now)) },
      ...move,
    },
    ConditionExpression: 'attribute_not_exists(#key)',
    ExpressionAttributeNames: { '#key': address.keyAttribute },
  });
  try {
    await call('PutItem', (options) => client.send(put, options));
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
  return admitted ? true : { entries, moves: new Map() };
}

/** The book's TTL after a claim, epoch seconds: the claimed session's lifetime from now, as a session's TTL is set. */
function bookTtl({ ttlExtraSeconds }: OwnerSlotSettings, claim: OwnerSlotClaim, now: number): number {
  return Math.ceil((now + Math.max(claim.keepMs ?? 0, claim.pendingMs)) / 1000) + ttlExtraSeconds;
}

/** Which sessions are live and `owner`'s (and within `absoluteMs` of `Created`): consistent BatchGetItem of their key items, four attributes. */
async function liveOf(
  { client, call, tableName, address, clock }: OwnerSlotSettings,
  owner: string,
  ids: readonly string[],
  absoluteMs: number | undefined,
): Promise<OwnerSessionsFound> {
  const live = new Set<string>();
  const ended = new Set<string>();
  const since = new Map<string, number>();
  const idOfKey = new Map(ids.map((id) => [address.keyValue(id), id]));
  const keys = [...idOfKey.keys()];
  for (let i = 0; i < keys.length; i += BATCH) {
    let request: KeysAndAttributes | undefined = {
      Keys: keys.slice(i, i + BATCH).map((key) => ({ [address.keyAttribute]: { S: key } })),
      ConsistentRead: true,
      ProjectionExpression: '#key, #owner, #expires, #created',
      ExpressionAttributeNames: { '#key': address.keyAttribute, '#owner': Attr.owner, '#expires': Attr.expires, '#created': Attr.created },
    };
    while (request?.Keys?.length) {
      const batch: BatchGetItemCommand = new BatchGetItemCommand({ RequestItems: { [tableName]: request } });
      const answer: BatchGetItemCommandOutput = await call('BatchGetItem', (options) => client.send(batch, options));
      const now = clock();
      for (const item of answer.Responses?.[tableName] ?? []) {
        const created = Number(item[Attr.created]?.N);
        const pastLifetime = absoluteMs !== undefined && Number.isFinite(created) && now - created >= absoluteMs;
        if (item[Attr.owner]?.S !== owner || !(Number(item[Attr.expires]?.N) > now)) continue;
        const id = idOfKey.get(item[address.keyAttribute]!.S!)!;
        (pastLifetime ? ended : live).add(id);
        if (!pastLifetime && Number.isFinite(created)) since.set(id, created);
      }
      request = answer.UnprocessedKeys?.[tableName];
    }
  }
  return { live, ended, created: since };
}
