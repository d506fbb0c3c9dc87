import { SessionCookie } from '../../src/cookie/session-cookie.js';
import { keepEarlierRead } from '../../src/core/earlier-read.js';
import type { SessionExchange } from '../../src/core/session-exchange.js';
import { SessionStateBehavior, type ActiveBehavior } from '../../src/core/session-state-behavior.enum.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { SessionStateEndedWhileWaitingError } from '../../src/errors/session-state.errors.js';
import { resolveSessionStateOptions } from '../../src/module/session-state.options.js';
import { SessionStateMetrics } from '../../src/observability/session-state-metrics.js';
import { SessionStateObserver } from '../../src/observability/session-state-observer.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';

/**
 * The lifecycle's rule for a request whose earlier read (the mount's) found its session stored: an
 * acquisition of that request (any exchange keyed by it) that finds the id absent is refused as one
 * that waited for a login or logout, never given a new session. Any other absent id is a new session.
 * No application is started (the e2e races: test/e2e/login-undone-by-*.e2e.spec.ts).
 */
const ID = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);
const SECRET = 'the current secret, 16+ chars';
const store = new InMemorySessionStateStore();
afterAll(() => store.close());

const options = resolveSessionStateOptions({ store, secret: SECRET });
/** An application's lifecycle (each application of a process has its own). */
const lifecycleOf = async () => new SessionStateLifecycle(options, store, new SessionStateObserver(await SessionStateMetrics.create()));

async function acquireAbsent(lifecycle: SessionStateLifecycle, request: object, behavior: ActiveBehavior) {
  const exchange: SessionExchange = {
    key: request,
    transport: 'graphql',
    cookieHeader: () => `sid=${new SessionCookie(options).value(ID)}`,
    isHttps: () => false,
    canSetCookie: () => true,
    appendSetCookie: () => {},
    setHeader: () => {},
    onClientGone: () => () => {},
    onAnswered: () => {},
  };
  return lifecycle.acquire(exchange, behavior, 'interceptor').then(
    (lease) => ({ isNew: lease.session.isNew, sameId: lease.session.id === ID }),
    (error: unknown) => error,
  );
}

describe.each<ActiveBehavior>([SessionStateBehavior.Required, SessionStateBehavior.ReadOnly])('an absent id, acquired %s', (behavior) => {
  it('read stored earlier in the same request: refused (moved or ended since), no new session', async () => {
    const lifecycle = await lifecycleOf();
    const request = {};
    keepEarlierRead(request, { storedId: ID, reader: lifecycle });
    const refused = await acquireAbsent(lifecycle, request, behavior);
    expect(refused).toBeInstanceOf(SessionStateEndedWhileWaitingError);
    expect((refused as SessionStateEndedWhileWaitingError).retryAfterSeconds).toBe(1);
  });

  it("no earlier read, one that found nothing, one of another id, or another application's: a new session under a new id", async () => {
    const lifecycle = await lifecycleOf();
    const found = (storedId: string | undefined, reader: object = lifecycle) => {
      const request = {};
      keepEarlierRead(request, { storedId, reader });
      return request;
    };
    // Another application's read (an Express app mounted in another, its own store and cookie): found by review R6.
    for (const request of [{}, found(undefined), found(OTHER), found(ID, await lifecycleOf())]) {
      expect(await acquireAbsent(lifecycle, request, behavior)).toEqual({ isNew: true, sameId: false });
    }
  });
});
