/**
 * OPERATIONS.md, "Logs": "An outage does not flood the log: the first failure of a kind
 * is logged in full at once, further ones are counted, and one summary line per minute". An outage of
 * the write path only (DynamoDB write throttling while reads pass, a Redis that times out on
 * writes): every request whose save fails also tries to release its lock, which fails too, and the
 * lifecycle logged "Releasing a session lock failed: …" at error level for each request, unthrottled
 * (beside the throttled store failure line): N failed requests wrote N + 1 error lines. A store
 * failure is logged once, by the measured store (StoreFailureLog), never again by the step that met it.
 */
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateStoreUnavailableError, type SessionStateStoreData } from '../../src/index.js';
import { sessionCookie } from '../support/test-app.js';
import { startOpsApp, type OpsApp } from '../ops/ops-app.js';

/** Reads answer; writes (save, release) fail as an unreachable backend's would. */
class WritesFailingStore extends InMemorySessionStateStore {
  failing = false;
  private fail(): never {
    throw new SessionStateStoreUnavailableError('the backend did not answer', { cause: new Error('write throttled') });
  }
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    if (this.failing) this.fail();
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
  override async releaseItemExclusive(id: string, lockId: string): Promise<boolean> {
    if (this.failing) this.fail();
    return super.releaseItemExclusive(id, lockId);
  }
}

describe('a write-path outage does not flood the log', () => {
  let t: OpsApp;
  afterEach(() => t?.close());

  it('10 requests whose save and release fail: the first failure in full, the rest counted (not one error line per request)', async () => {
    const store = new WritesFailingStore();
    t = await startOpsApp('express', store);
    // One session per request (a failed release leaves each lock behind: requests of one session would wait for it).
    const cookies: string[] = [];
    for (let i = 0; i < 10; i++) cookies.push(sessionCookie((await request(t.http).post('/seed').expect(200)).headers)!);
    const error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    try {
      store.failing = true;
      for (const cookie of cookies) await request(t.http).post('/count').set('Cookie', cookie).expect(503);
      store.failing = false;
      const lines = error.mock.calls.map(([message]) => String(message));
      expect(lines.filter((line) => line.startsWith('Releasing a session lock failed'))).toEqual([]);
      expect(lines).toHaveLength(1);
    } finally {
      vi.restoreAllMocks();
    }
  });
});
