import { SessionStateLockLostError, SessionStateOwnerCapError, SessionStateTooLargeError } from '../errors/session-state.errors.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import type { HttpSessionState } from '../session/http-session-state.js';
import type { OwnerSlotClaim } from '../store/owner-slots.js';
import type { SessionStateStore, SessionStateStoreData } from '../store/session-state-store.js';
import type { StoreStep } from './completion-plan.js';
import type { SessionLease } from './session-lease.js';

/**
 * `maxSessionsPerOwner` in the lifecycle: a save that gives a session its owner, or moves an owned
 * session to a new id, first takes the session's place among the owner's (`claimOwnerSlot`); other
 * saves, and requests that save nothing, cost nothing more.
 */

/** The claim a save of `data` needs, or null (no cap, no owner, or the owner already counted under this id). */
export function ownerClaimOf(
  options: ResolvedSessionStateOptions,
  session: HttpSessionState,
  loaded: SessionStateStoreData | null,
  data: SessionStateStoreData | null,
): OwnerSlotClaim | null {
  const cap = options.ownerCap;
  if (cap === null || data?.owner === undefined) return null;
  if (!session.ownerChanged && session.previousId === undefined) return null;
  // The id it moves from has a place only if it had this owner (a login from an anonymous session: none to spare).
  const replacing = session.previousId !== undefined && loaded?.owner === data.owner ? session.previousId : undefined;
  return {
    owner: data.owner,
    id: session.id,
    ...(replacing === undefined ? {} : { replacing }),
    max: cap.max,
    policy: cap.policy,
    pendingMs: options.executionTimeoutMs,
    ...(options.absoluteTimeoutMs === null ? {} : { absoluteMs: options.absoluteTimeoutMs }),
    // A store that expires the book keeps it at least as long as this session can live without signing in again.
    keepMs: Math.max(options.executionTimeoutMs, options.absoluteTimeoutMs ?? data.timeout * 60_000),
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

/**
 * The place a completed store step freed: the loaded session had an owner, and it was removed
 * (logout), moved to a new id (its old id's place), or given another owner or none. Given back at
 * once (one call, on those requests only), so that a sign-in right after a sign-out is not refused
 * while the old entry would still count as a save under way (`pendingMs`). A move also names its new
 * id (`movedTo`): the book's record of that move is settled with it.
 */
export function leftOwnerSlot(
  options: ResolvedSessionStateOptions,
  lease: SessionLease,
  step: StoreStep,
  data: SessionStateStoreData | null,
): { owner: string; id: string; movedTo?: string } | null {
  const owner = lease.loaded?.owner;
  if (options.ownerCap === null || owner === undefined) return null;
  const id = lease.session.previousId ?? lease.session.id;
  const removed = step.kind === 'remove' || (step.kind === 'move' && step.removeOld);
  const disowned = (step.kind === 'save' || step.kind === 'create') && data !== null && data.owner !== owner;
  if (!removed && !disowned) return null;
  return step.kind === 'move' ? { owner, id, movedTo: lease.session.id } : { owner, id };
}
