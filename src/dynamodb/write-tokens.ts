import { randomBytes } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { SessionStateStoreUnavailableError } from '../errors/session-state.errors.js';
import { Attr, readWriteTokens, WRITE_SLOT_NAMES, type DynamoDBItem, type SessionRecord } from './dynamodb-session-record.js';
import { lockIdTime } from './lock-id.js';
import { PLACEHOLDERS } from './record-expressions.js';

/**
 * The bookkeeping of fenced writes: each write records a fresh token (`WRITE_SLOTS` in the record),
 * so that a retried write recognises its own earlier attempt; and the first write under a lock
 * removes what is past its time (earlier builds' write tokens, revoked lock ids).
 */

/**
 * How long a revoked lock id is kept in `AbortedLocks`: well past the point where DynamoDB refuses
 * the call it revokes (SigV4 signatures expire within minutes; the SDK re-signs each retry, all
 * within `requestTimeoutMs` of the id's creation).
 */
const ABORTED_LOCK_KEEP_MS = 20 * 60_000;

/**
 * Most revocations kept (the newest): the lock item stays under 1 KB however many lock calls went
 * unanswered. A revoked call that is dropped sooner and still lands takes a lock nobody holds, which
 * is broken as stale after `executionTimeout`: a delay, never a lost or doubled write (writes are fenced).
 */
const MAX_ABORTED_LOCKS_KEPT = 8;

/**
 * How long an earlier build's write token (see `LEGACY_WRITE_PREFIX`) is kept beyond `requestTimeoutMs`, the
 * longest the SDK can retry its write (an instance still running such a build may be waiting for it): a
 * margin for clocks of instances that disagree.
 */
const WRITE_TOKEN_MARGIN_MS = 10_000;

/**
 * Most of those write tokens one write removes: its `REMOVE` clause stays far below DynamoDB's 4 KB
 * expression limit however many a record carries (those builds removed them all at once, which failed past
 * about 270 and then failed again at every write). A record with more heals over several writes.
 */
const LEGACY_WRITES_PRUNED_PER_WRITE = 100;

/** Most locks whose prunes (`Prune`) are remembered; a forgotten one only delays a prune. */
const MAX_REMEMBERED_PRUNES = 1_000;

/** What the first write under a lock removes: earlier builds' write tokens and revocations past their time. */
export interface Prune {
  readonly writes: readonly string[];
  readonly aborted: readonly string[];
}

/** By lock id: what the holder's first write removes (learnt from the lock call's answer). */
export class PruneBook {
  private readonly prunes = new Map<string, Prune>();
  /** By lock id: bytes of the revoked lock ids its record keeps after the prune (rare: most records have none). */
  private readonly keptAborted = new Map<string, number>();

  constructor(private readonly requestTimeoutMs: number) {}

  /**
   * Remembers, for the write the holder of `lockId` will make, earlier builds' write tokens and revocations
   * of the record that are past their time. Revocations are kept 20 minutes (the calls they revoke
   * can no longer reach DynamoDB, whose signatures expire within minutes), the newest 8 at most, those write tokens for as
   * long as the SDK can retry their write. Nothing is remembered for most locks.
   */
  remember(lockId: string, record: SessionRecord, now: number): void {
    const keepSince = now - this.requestTimeoutMs - WRITE_TOKEN_MARGIN_MS;
    const writes = [...record.legacyWrites]
      .filter(([, at]) => !(at > keepSince))
      .slice(0, LEGACY_WRITES_PRUNED_PER_WRITE)
      .map(([name]) => name);
    const newestFirst = [...record.abortedLocks].sort((a, b) => (lockIdTime(b) || 0) - (lockIdTime(a) || 0));
    const aborted = newestFirst.filter((entry, index) => index >= MAX_ABORTED_LOCKS_KEPT || !(lockIdTime(entry) > now - ABORTED_LOCK_KEEP_MS));
    const kept = newestFirst.filter((entry) => !aborted.includes(entry));
    this.keptAborted.delete(lockId);
    if (kept.length > 0) {
      this.keptAborted.set(
        lockId,
        kept.reduce((bytes, entry) => bytes + Buffer.byteLength(entry, 'utf8'), Attr.abortedLocks.length),
      );
      if (this.keptAborted.size > MAX_REMEMBERED_PRUNES) this.keptAborted.delete(this.keptAborted.keys().next().value!);
    }
    if (writes.length === 0 && aborted.length === 0) return;
    this.prunes.set(lockId, { writes, aborted });
    if (this.prunes.size > MAX_REMEMBERED_PRUNES) this.prunes.delete(this.prunes.keys().next().value!);
  }

  /**
   * Bytes of the revoked lock ids the record locked under `lockId` keeps after its prune: room a
   * commit leaves for them when it decides whether the session fits inline (`layOutSession`).
   */
  keptAbortedBytes(lockId: string): number {
    return this.keptAborted.get(lockId) ?? 0;
  }

  get(lockId: string): Prune | undefined {
    return this.prunes.get(lockId);
  }

  forget(lockId: string): void {
    this.prunes.delete(lockId);
  }
}

/** A token for one write: 72 random bits (see `WRITE_SLOTS`). */
export function newWriteToken(): string {
  return randomBytes(9).toString('base64url');
}

/** What a fenced write does besides its own change: records its token, removes what is past its time. */
export interface WriteClauses {
  readonly set: string[];
  readonly remove: string[];
  readonly delete: string[];
  readonly names: Record<string, string>;
  readonly values: Record<string, AttributeValue>;
}

/**
 * The clauses of a write with `writeToken`: the tokens of the last writes shift by one slot
 * (`W7` takes `W6`'s, ... `W0` takes this one; the oldest drops out), in a fixed-size expression;
 * and the holder's prune, if any (`PruneBook.remember`), bounded too.
 */
export function writeClauses(writeToken: string, prune: Prune | undefined): WriteClauses {
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = { ':writeToken': { S: writeToken }, ':noWrite': { S: '-' } };
  const set: string[] = [];
  WRITE_SLOT_NAMES.forEach((name, i) => (names[`#w${i}`] = name));
  // Every right-hand side reads the record as it was before this update.
  for (let i = WRITE_SLOT_NAMES.length - 1; i > 0; i--) set.push(`#w${i} = if_not_exists(#w${i - 1}, :noWrite)`);
  set.push('#w0 = :writeToken');
  const remove = (prune?.writes ?? []).map((name, i) => {
    names[`#oldWrite${i}`] = name;
    return `#oldWrite${i}`;
  });
  const aborted = prune?.aborted ?? [];
  if (aborted.length > 0) {
    names[PLACEHOLDERS.abortedLocks] = Attr.abortedLocks;
    values[':oldAborted'] = { SS: [...aborted] };
  }
  return { set, remove, delete: aborted.length > 0 ? ['#abortedLocks :oldAborted'] : [], names, values };
}

/** How many attempts the SDK made of the call that failed with `error` (1 when it does not say). */
export function attemptsOf(error: unknown): number {
  const attempts = (error as { $metadata?: { attempts?: unknown } }).$metadata?.attempts;
  return typeof attempts === 'number' && attempts > 0 ? attempts : 1;
}

/**
 * Whether a write with `writeToken`, whose last attempt failed its condition on `record`, was
 * applied. Its token among the last writes': yes, by an earlier attempt whose answer was lost. Else,
 * after a single attempt: no (that attempt's own answer says so). Else an earlier attempt may have
 * landed and been followed by more writes than the record remembers, or not have landed at all
 * (its lock broken as stale): that cannot be told, and the write is reported as of unknown outcome,
 * never as applied nor as surely not applied.
 */
export function wroteOrUnknown(
  record: DynamoDBItem | undefined,
  writeToken: string,
  attempts: number,
  operation: string,
  tableName: string,
): boolean {
  if (readWriteTokens(record).includes(writeToken)) return true;
  if (attempts <= 1) return false;
  throw new SessionStateStoreUnavailableError(
    `DynamoDB ${operation} on table "${tableName}": the answer to a write was lost and its retry found the session ` +
      'changed by later requests; whether the write was applied cannot be told.',
  );
}
