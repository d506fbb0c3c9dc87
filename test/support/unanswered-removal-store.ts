import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { RemoveItemOptions } from '../../src/store/session-state-store.js';
import type { Gates } from './gates.js';

/**
 * An in-memory store whose next removal of a login's old id (`removeItem(…, { moved: true })`) gets
 * no answer, and whose next release may get none either (the faults of review R10's login tests).
 */
export class UnansweredRemovalStore extends InMemorySessionStateStore {
  /** The next move's removal fails with no answer, without applying (unless `lands`). */
  fail = false;
  /** With `fail`: every move's removal fails so (a removal sent again too), not only the next. */
  always = false;
  /** With `fail`: the removal is applied, and only its answer is lost. */
  lands = false;
  /** The next release fails with no answer, without applying. */
  blind = false;
  /** The next move's removal is answered, late: in flight until the gate `removal` opens. */
  slow = false;
  /** With `fail` or `slow`: the removal is in flight until the test opens the gate `removal` on these gates. */
  gates: Gates | undefined;

  override async removeItem(id: string, lockId: string, options?: RemoveItemOptions): Promise<void> {
    if (this.fail && options?.moved) {
      this.fail = this.always;
      await this.gates?.pass('removal');
      if (this.lands) await super.removeItem(id, lockId, options);
      throw new SessionStateStoreUnavailableError('no answer');
    }
    if (this.slow && options?.moved) {
      this.slow = false;
      await this.gates?.pass('removal');
    }
    return super.removeItem(id, lockId, options);
  }

  override async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    if (this.blind) {
      this.blind = false;
      throw new SessionStateStoreUnavailableError('no answer');
    }
    return super.releaseItemExclusive(id, lockId);
  }

  /** The stored records, by id (the test's view of which ids hold a session, and their locks). */
  stored(): Map<string, { lockId: string | null; items: string }> {
    return (this as unknown as { records: Map<string, { lockId: string | null; items: string }> }).records;
  }
}
