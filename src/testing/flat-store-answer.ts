import {
  SessionStateActions,
  type SessionStateAcquisition,
  type SessionStateRead,
  type SessionStateStoreData,
} from '../store/session-state-store.js';

/**
 * An answer of `getItem`, `getItemExclusive` or `handOverItemExclusive` with every field of every
 * kind, so that each test reads one shape: `item` null unless loaded or acquired, `lockId` the
 * caller's (acquired) or the holder's (locked) else null, `lockAge` and `actions` 0 when not set.
 */
export interface FlatAnswer {
  readonly kind: (SessionStateRead | SessionStateAcquisition)['kind'];
  readonly item: SessionStateStoreData | null;
  readonly locked: boolean;
  readonly lockAge: number;
  readonly lockId: string | null;
  readonly actions: SessionStateActions;
  readonly expires: number;
}

export function flat(answer: SessionStateRead | SessionStateAcquisition | null): FlatAnswer {
  // null: `probeLock` found nobody holding the lock.
  if (answer === null) return { kind: 'absent', item: null, locked: false, lockAge: 0, lockId: null, actions: SessionStateActions.None, expires: 0 };
  switch (answer.kind) {
    case 'absent':
      return { kind: 'absent', item: null, locked: false, lockAge: 0, lockId: null, actions: SessionStateActions.None, expires: 0 };
    case 'locked':
      return {
        kind: 'locked',
        item: null,
        locked: true,
        lockAge: answer.lockAge,
        lockId: answer.lockId,
        actions: SessionStateActions.None,
        expires: answer.expires,
      };
    case 'loaded':
      return { kind: 'loaded', item: answer.item, locked: false, lockAge: 0, lockId: null, actions: answer.actions, expires: answer.expires };
    case 'acquired':
      return {
        kind: 'acquired',
        item: answer.item,
        locked: false,
        lockAge: 0,
        lockId: answer.lockId,
        actions: answer.actions,
        expires: answer.expires,
      };
  }
}
