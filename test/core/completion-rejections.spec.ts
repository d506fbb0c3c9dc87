import { Logger } from '@nestjs/common';
import type { SessionExchange } from '../../src/core/session-exchange.js';
import { SessionStateBehavior } from '../../src/core/session-state-behavior.enum.js';
import { SessionStateLifecycle, type RequestOutcome } from '../../src/core/session-state.lifecycle.js';
import { SessionCookie } from '../../src/cookie/session-cookie.js';
import { SessionStateStoreUnavailableError } from '../../src/errors/session-state.errors.js';
import { resolveSessionStateOptions } from '../../src/module/session-state.options.js';
import { SessionStateMetrics } from '../../src/observability/session-state-metrics.js';
import { SessionStateObserver } from '../../src/observability/session-state-observer.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import type { SessionStateStoreData } from '../../src/store/session-state-store.js';
import { startMetricsProbe, type MetricsProbe } from '../support/metrics-reader.js';

/**
 * `session_state.request.rejected` counts requests the session layer refused. A request that failed
 * on its own (its handler threw) and whose completion then failed too (the store down) was refused by
 * its handler, not by the session layer: not counted. A save that fails is.
 */
const ID = 'r'.repeat(32);
const SECRET = 'the current secret, 16+ chars';

/** The store is down for writes and releases, reads still answer. */
class DownForWrites extends InMemorySessionStateStore {
  down = false;
  override async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    if (this.down) throw new SessionStateStoreUnavailableError('no answer');
    return super.releaseItemExclusive(id, lockId);
  }
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    if (this.down) throw new SessionStateStoreUnavailableError('no answer');
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
}

let probe: MetricsProbe;
let store: DownForWrites;
beforeAll(() => (probe = startMetricsProbe()));
afterAll(() => probe.stop());
beforeEach(async () => {
  vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
  store = new DownForWrites();
  await store.setAndReleaseItemExclusive(ID, { items: '{"n":1}', timeout: 20 }, null, true);
});
afterEach(() => {
  vi.restoreAllMocks();
  store.close();
});

/** One read-write request of the stored session that sets n = 2, completed with `outcome` while the store is down. */
async function requestWhileDown(outcome: RequestOutcome): Promise<Record<string, number>> {
  const options = resolveSessionStateOptions({ store, secret: SECRET });
  const lifecycle = new SessionStateLifecycle(options, store, new SessionStateObserver(await SessionStateMetrics.create()));
  const exchange: SessionExchange = {
    key: {},
    transport: 'http',
    cookieHeader: () => `sid=${new SessionCookie(options).value(ID)}`,
    isHttps: () => false,
    canSetCookie: () => true,
    appendSetCookie: () => {},
    setHeader: () => {},
    onClientGone: () => () => {},
    onAnswered: () => {},
  };
  const lease = await lifecycle.acquire(exchange, SessionStateBehavior.Required, 'interceptor');
  lease.session.set('n', 2);
  store.down = true;
  const before = await probe.read();
  await expect(lifecycle.complete(lease, exchange, outcome)).rejects.toBeInstanceOf(SessionStateStoreUnavailableError);
  const changed = await probe.since(before);
  return Object.fromEntries(Object.entries(changed).filter(([name]) => name.startsWith('session_state.request.rejected')));
}

describe('rejections counted at completion', () => {
  it('a save that fails (store unavailable) is counted once, by reason', async () => {
    expect(await requestWhileDown('succeeded')).toEqual({ 'session_state.request.rejected{reason=store_unavailable}': 1 });
  });

  it('a request that failed on its own, whose release then fails, is not counted as refused by the session layer', async () => {
    expect(await requestWhileDown('failed')).toEqual({});
  });
});
