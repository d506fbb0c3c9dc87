import { SessionStateLockLostError, SessionStateOwnerCapError, SessionStateTooLargeError } from '../errors/session-state.errors.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import type { HttpSessionState } from '../session/http-session-state.js';
import type { OwnerSlotClaim } from '../store/owner-slots.js';
import type { SessionStateStore, SessionStateStoreData } from '../store/session-state-store.js';

/**
 * `maxSessionsPerOwner` in the lifecycle: a save that gives a session its owner, or moves an owned
 * session to a new id, first takes the session's place among the owner's (`claimOwnerSlot`); other
 * saves, and requests that save nothing, cost nothing more.
 */

/** The claim a save of `data` needs, or null (no cap, no owner, or the owner already counted under this id). */
export function ownerClaimOf(
  options: ResolvedSessionStateOptions,
  session: HttpSessionState,
  data: SessionStateStoreData | null,
): OwnerSlotClaim | null {
  const cap = options.ownerCap;
  if (cap === null || data?.owner === undefined) return null;
  if (!session.ownerChanged && session.previousId === undefined) return null;
  return {
    owner: data.owner,
    id: session.id,
    ...(session.previousId === undefined ? {} : { replacing: session.previousId }),
    max: cap.max,
    policy: cap.policy,
    pendingMs: options.executionTimeoutMs,
  };
}

/** Takes the place, or throws `SessionStateOwnerCapError` (nothing written yet). Answers how many sessions were revoked for it. */
export async function takeOwnerSlot(store: SessionStateStore, claim: OwnerSlotClaim): Promise<number> {
  const answer = await store.claimOwnerSlot!(claim);
  if (!answer.admitted) throw new SessionStateOwnerCapError(claim.max);
  return answer.revoked;
}

/**
 * After a save that failed: gives the place back when the failure certainly wrote nothing (refused by
 * its fence, too large). Any other failure (no answer from the store) may have written it: the entry
 * stays and goes once found dead after `pendingMs` (a place kept a while too long, never one too few).
 */
export async function giveBackOwnerSlot(store: SessionStateStore, claim: OwnerSlotClaim, error: unknown): Promise<void> {
  if (!(error instanceof SessionStateLockLostError) && !(error instanceof SessionStateTooLargeError)) return;
  await store.releaseOwnerSlot?.(claim.owner, claim.id).catch(() => undefined);
}
