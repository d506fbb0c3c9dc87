import { Inject, Injectable } from '@nestjs/common';
import { MAX_OWNER_BYTES, ownerProblem } from '../session/http-session-state.js';
import { OBSERVED_SESSION_STATE_STORE } from '../module/session-state.constants.js';
import { SessionStateStore } from '../store/session-state-store.js';

/**
 * Sign out everywhere: removes every session of one owner (`session.owner`, set by the app at
 * login), e.g. after a password change or from an admin screen. A request holding one of those
 * sessions at that moment is fenced out (its save is refused with 409 and writes nothing); the
 * next request with any of those cookies starts a new, empty session.
 */
@Injectable()
export class SessionRevoker {
  constructor(@Inject(OBSERVED_SESSION_STATE_STORE) private readonly store: SessionStateStore) {}

  /** Removes the owner's sessions; answers how many live sessions were removed. */
  async revokeOwner(owner: string): Promise<number> {
    const problem = ownerProblem(owner);
    if (problem)
      throw new TypeError(`revokeOwner: owner must be a non-empty, well-formed string of at most ${MAX_OWNER_BYTES} bytes (UTF-8): ${problem}.`);
    return this.store.revokeOwner(owner);
  }
}
