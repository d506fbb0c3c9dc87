/**
 * A lock wait's outcome is the acquisition's own: `stale_broken` for the wait that broke a stale
 * lock, whatever other waits of the same session end first. (Review R7: a flag kept per session id
 * was taken, and cleared, by whichever wait of that session ended first.)
 */
import { SessionStateObserver } from '../../src/observability/session-state-observer.js';
import type { SessionStateMetrics } from '../../src/observability/session-state-metrics.js';

function recordingObserver() {
  const outcomes: string[] = [];
  const metrics = { enabled: true, lockWait: (outcome: string) => outcomes.push(outcome), staleBroken: () => {} };
  return { observer: new SessionStateObserver(metrics as unknown as SessionStateMetrics), outcomes };
}

describe('lock wait outcome', () => {
  it('labels the wait that broke the stale lock, not another wait of the same session that ends first', async () => {
    const { observer, outcomes } = recordingObserver();
    let breakerDone!: (value: { brokeStale: true }) => void;
    const breaker = observer.lockWait(() => false, new Promise<{ brokeStale?: true }>((resolve) => (breakerDone = resolve)));
    // The coordinator tells of the break while the breaker's wait runs; a reader of the session then ends first.
    observer.staleBroken();
    await observer.lockWait(() => false, Promise.resolve({}));
    breakerDone({ brokeStale: true });
    await breaker;
    expect(outcomes).toEqual(['acquired', 'stale_broken']);
  });
});
