import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { Attr, num, ttlBase } from './dynamodb-session-record.js';

/**
 * Slides a record's expiry and TTL by its own timeout, in one update: `TimeoutMs`/`TimeoutSeconds`
 * are stored because update expressions add but cannot multiply. A record written without them
 * (not by this store) slides by ASP.NET's default, 20 minutes.
 */
export const SLIDE_EXPIRY =
  '#expires = :now + if_not_exists(#timeoutMs, :defaultTimeoutMs), #ttl = :ttlBase + if_not_exists(#timeoutSeconds, :defaultTimeoutSeconds)';
export const SLIDE_EXPIRY_NAMES = ['expires', 'timeoutMs', 'ttl', 'timeoutSeconds'] as const;

/** Expression placeholders of the record's attributes; each command declares only those it uses. */
export const PLACEHOLDERS = {
  key: '#key',
  ttl: '#ttl',
  items: '#items',
  locked: '#locked',
  lockId: '#lockId',
  lockDate: '#lockDate',
  expires: '#expires',
  flags: '#flags',
  timeout: '#timeout',
  timeoutMs: '#timeoutMs',
  timeoutSeconds: '#timeoutSeconds',
  version: '#version',
  dataId: '#dataId',
  abortedLocks: '#abortedLocks',
  owner: '#owner',
  created: '#created',
  client: '#client',
  movedUntil: '#movedUntil',
  movedBy: '#movedBy',
} as const;
export type Placeholder = keyof typeof PLACEHOLDERS;

/**
 * Where a session's record is and what its attributes are called in one table: the key (with the
 * `application` prefix), the key and TTL attribute names (options), and the values `SLIDE_EXPIRY` needs.
 */
export class RecordAddress {
  constructor(
    readonly keyAttribute: string,
    readonly ttlAttribute: string,
    private readonly application: string | undefined,
    private readonly ttlExtraSeconds: number,
  ) {}

  keyValue(id: string): string {
    return this.application === undefined ? id : `${this.application}-${id}`;
  }

  key(id: string): Record<string, AttributeValue> {
    return { [this.keyAttribute]: { S: this.keyValue(id) } };
  }

  /** `ExpressionAttributeNames` for `placeholders`. */
  names(...placeholders: Placeholder[]): Record<string, string> {
    const names: Record<string, string> = {};
    for (const p of placeholders) {
      names[PLACEHOLDERS[p]] = p === 'key' ? this.keyAttribute : p === 'ttl' ? this.ttlAttribute : Attr[p];
    }
    return names;
  }

  /** The values `SLIDE_EXPIRY` needs (`:now` included). */
  slideValues(now: number): Record<string, AttributeValue> {
    return {
      ':now': num(now),
      ':ttlBase': num(ttlBase(now, this.ttlExtraSeconds)),
      ':defaultTimeoutMs': num(20 * 60_000),
      ':defaultTimeoutSeconds': num(20 * 60),
    };
  }
}

export function updateExpression(set: string[], remove: string[], del: string[]): string {
  return [
    set.length > 0 ? `SET ${set.join(', ')}` : '',
    remove.length > 0 ? `REMOVE ${remove.join(', ')}` : '',
    del.length > 0 ? `DELETE ${del.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}
