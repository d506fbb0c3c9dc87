import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Logger } from '@nestjs/common';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import type { BoundedCall } from '../../src/dynamodb/bounded-call.js';
import { RecordAddress } from '../../src/dynamodb/record-expressions.js';
import { settleUnansweredLock, UNANSWERED_REVOCATION_RETRY_MS, type UnansweredLockSettings } from '../../src/dynamodb/unanswered-lock.js';

// The background half of settling a lock call that got no answer (dynamodb-unanswered-lock-slow-revocation
// shows it against DynamoDB Local): a revocation that gets no answer is sent again with backoff, never a
// release without an answer that shows the lock; it stops when the store closes, and gives up, saying
// so, after UNANSWERED_REVOCATION_RETRY_MS. DynamoDB's side is a fake `call` here: unanswered calls are
// a fault DynamoDB Local cannot be made to produce for two minutes under fake timers.
const unanswered = () => new SessionStateStoreUnavailableError('DynamoDB UpdateItem did not complete within 300 ms.');

function fakeSettings(answers: (attempt: number) => unknown, releaseAnswers: (attempt: number) => boolean | Error = () => true) {
  let attempts = 0;
  let releaseAttempts = 0;
  let closed = false;
  const released: string[] = [];
  const warn = vi.fn();
  const call = (async () => {
    const answer = answers(++attempts);
    if (answer instanceof Error) throw answer;
    return answer;
  }) as unknown as BoundedCall;
  const settings: UnansweredLockSettings = {
    client: {} as DynamoDBClient,
    call,
    tableName: 't',
    address: new RecordAddress('SessionId', 'TTL', undefined, 0),
    logger: { warn } as unknown as Logger,
    release: (_id, lockId) => {
      const answer = releaseAnswers(++releaseAttempts);
      if (answer instanceof Error) return Promise.reject(answer);
      released.push(lockId);
      return Promise.resolve(answer);
    },
    closed: () => closed,
  };
  return { settings, released, warn, attempts: () => attempts, releaseAttempts: () => releaseAttempts, close: () => (closed = true) };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

it('a revocation with no answer is sent again until one is answered; the lock it shows landed is released then, not before', async () => {
  const fake = fakeSettings((attempt) => (attempt <= 4 ? unanswered() : { Attributes: { LockId: { S: 'lock-1' } } }));
  expect(await settleUnansweredLock(fake.settings, 'id', 'lock-1')).toBe(false); // the request is not held up
  expect(fake.released).toEqual([]);
  await vi.advanceTimersByTimeAsync(5_000);
  expect(fake.attempts()).toBe(5);
  expect(fake.released).toEqual(['lock-1']);
  await vi.advanceTimersByTimeAsync(UNANSWERED_REVOCATION_RETRY_MS);
  expect(fake.attempts()).toBe(5);
});

it('an answered revocation that shows no lock (it never landed, or the record is absent): nothing is released', async () => {
  const fake = fakeSettings((attempt) => (attempt === 1 ? unanswered() : { Attributes: { LockId: { S: 'another' } } }));
  await settleUnansweredLock(fake.settings, 'id', 'lock-1');
  await vi.advanceTimersByTimeAsync(UNANSWERED_REVOCATION_RETRY_MS);
  expect(fake.attempts()).toBe(2);
  expect(fake.released).toEqual([]);
});

it('never answered: resent with backoff (capped), given up after the retry window with a log line; never a release', async () => {
  const fake = fakeSettings(() => unanswered());
  await settleUnansweredLock(fake.settings, 'a-session-id', 'lock-1');
  await vi.advanceTimersByTimeAsync(UNANSWERED_REVOCATION_RETRY_MS + 10_000);
  // 100 ms doubling to 5 s over 2 minutes: about 30 sends, not thousands.
  expect(fake.attempts()).toBeGreaterThan(10);
  expect(fake.attempts()).toBeLessThan(60);
  expect(fake.released).toEqual([]);
  const lines = fake.warn.mock.calls.map((call) => String(call[0]));
  expect(lines).toHaveLength(2);
  expect(lines[1]).toContain('could not be settled');
  expect(lines.join('\n')).not.toContain('a-session-id');
  const sent = fake.attempts();
  await vi.advanceTimersByTimeAsync(UNANSWERED_REVOCATION_RETRY_MS);
  expect(fake.attempts()).toBe(sent);
});

it('the store closed: the revocation is not sent again', async () => {
  const fake = fakeSettings(() => unanswered());
  await settleUnansweredLock(fake.settings, 'id', 'lock-1');
  await vi.advanceTimersByTimeAsync(1_000);
  const sent = fake.attempts();
  fake.close();
  await vi.advanceTimersByTimeAsync(UNANSWERED_REVOCATION_RETRY_MS);
  expect(fake.attempts()).toBe(sent);
  expect(fake.warn).toHaveBeenCalledTimes(1); // the first line only: closing is not a failure
});

it('the revocation shows the lock landed but its release gets no answer: the release is sent again until answered', async () => {
  const fake = fakeSettings(
    () => ({ Attributes: { LockId: { S: 'lock-1' } } }),
    (attempt) => (attempt <= 3 ? unanswered() : true),
  );
  expect(await settleUnansweredLock(fake.settings, 'id', 'lock-1')).toBe(true);
  await vi.advanceTimersByTimeAsync(UNANSWERED_REVOCATION_RETRY_MS);
  expect(fake.releaseAttempts()).toBe(4);
  expect(fake.released).toEqual(['lock-1']);
  expect(fake.warn).toHaveBeenCalledTimes(1);
});
