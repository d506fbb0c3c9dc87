import { sessionErrorOf } from '../../src/errors/session-error-catalog.js';
import { recordStoreError } from '../../src/errors/store-error-origin.js';
import {
  SessionStateError,
  SessionStateLockLostError,
  SessionStateOwnerCapError,
  SessionStateReadOnlyError,
  SessionStateValueError,
  SessionStateWaitAbortedError,
} from '../../src/errors/session-state.errors.js';

/** The error as if a store call had thrown it (the measured store records every failing call). */
function fromStore<E extends Error>(error: E): E {
  recordStoreError(error, ['secret-session-id']);
  return error;
}

describe('the error catalog: who wrote the message decides whether a client sees it', () => {
  it("a lost lock the module declares keeps the module's words; a store's never reach the client", () => {
    const module = new SessionStateLockLostError('The session lock was released as stale before the handler could run.', 'lock_mismatch');
    expect(sessionErrorOf(module)).toMatchObject({ status: 409, message: module.message, rejection: 'lock_lost' });
    const store = fromStore(new SessionStateLockLostError('ConditionalCheckFailed on table "prod-sessions"', 'lock_mismatch'));
    expect(sessionErrorOf(store)).toMatchObject({ status: 409, message: expect.stringMatching(/^The session lock was lost/) });
    expect(sessionErrorOf(store).message).not.toContain('prod-sessions');
  });

  it("a sign-in refused by maxSessionsPerOwner: 409 with the module's words (the cap, never the owner), counted as owner_cap, not a store failure", () => {
    const refused = new SessionStateOwnerCapError(3);
    expect(refused.limit).toBe(3);
    expect(sessionErrorOf(refused)).toMatchObject({
      kind: 'refusal',
      status: 409,
      message: 'Signed in on too many devices: at most 3 sessions at once. Sign out of another session first.',
      name: 'SessionStateOwnerCapError',
      rejection: 'owner_cap',
      storeFailure: null,
    });
  });

  it.each([
    ['read-only', new SessionStateReadOnlyError()],
    ['JSON-unsafe value', new SessionStateValueError('Session value "k" is not JSON data', 'k', '')],
    ['no session', new SessionStateError('@Session(): this request has no session')],
  ])(
    'a programming error (%s) passes through HTTP, with its own message for WebSocket clients; from a store it is a store failure',
    (_kind, error) => {
      const { kind, status, message, rejection } = sessionErrorOf(error);
      expect({ kind, status, message, rejection }).toEqual({ kind: 'programming', status: undefined, message: error.message, rejection: undefined });
      expect(sessionErrorOf(fromStore(error))).toMatchObject({
        kind: 'store_failure',
        status: 500,
        message: expect.stringMatching(/^Session state failed/),
      });
    },
  );

  it("an application's own error is not the module's to answer: no status, no message", () => {
    const { kind, status, message } = sessionErrorOf(new Error('db password is hunter2'));
    expect({ kind, status, message }).toEqual({ kind: 'unknown', status: undefined, message: undefined });
    expect(sessionErrorOf('a string')).toMatchObject({ kind: 'unknown' });
  });

  it('an aborted wait is counted as shutdown while the application closes', () => {
    const error = new SessionStateWaitAbortedError('aborted');
    expect(sessionErrorOf(error).rejection).toBe('aborted');
    expect(sessionErrorOf(error, true).rejection).toBe('shutdown');
  });
});
