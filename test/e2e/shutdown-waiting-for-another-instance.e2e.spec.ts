/**
 * Shutdown of one instance (app.close(), what enableShutdownHooks() runs on SIGTERM) while one of its
 * requests waits at the store for a lock another instance holds: between polls (DynamoDB), or watching
 * for the release (Redis). That request is in no queue of this process; its wait lasted until the other
 * instance released or one `pollMaxMs` / `fallbackPollMs` passed, and the HTTP server's close waited for it.
 * It gets the answer of a request queued in the process: 503, nothing saved.
 */
import request from 'supertest';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { idOf, startSessionApp, type SessionApp } from './session-app.js';
import { locksLeft, useRedisServer } from '../support/redis-test-helpers.js';
import { useDynamoDBTable } from '../support/dynamodb-test-helpers.js';
import { sessionCookie } from '../support/test-app.js';

const table = await useDynamoDBTable('shutdown-waiting');
const redis = useRedisServer();

const apps: SessionApp[] = [];
afterEach(async () => {
  for (const a of apps) a.gates.openAll();
  await Promise.all(apps.splice(0).map((a) => a.app.close().catch(() => undefined)));
});

interface Backend {
  name: string;
  instance(): Promise<SessionApp>;
  /** Lock attempts answered `locked` before the waiter pauses at the store (Redis tries again once its release watch is open). */
  lockedBeforeWait: number;
}

async function instance(store: SessionStateStore, lockWait?: { pollMinMs: number; pollMaxMs: number }): Promise<SessionApp> {
  const app = await startSessionApp('express', { store, executionTimeout: 60, ...(lockWait && { lockWait }) });
  apps.push(app);
  return app;
}

const BACKENDS: Backend[] = [
  {
    name: 'Redis, watching for the release (fallbackPollMs 20 s)',
    instance: () => instance(new RedisSessionStateStore({ url: redis.server.url, releaseNotifications: { fallbackPollMs: 20_000 } })),
    lockedBeforeWait: 2,
  },
  {
    name: 'DynamoDB, between polls (pollMaxMs 20 s)',
    instance: () => instance(table.createStore(), { pollMinMs: 10_000, pollMaxMs: 20_000 }),
    lockedBeforeWait: 1,
  },
];

describe('an instance shutting down while one of its requests waits at the store for another instance’s lock', () => {
  it.each(BACKENDS)(
    '$name: the waiter gets 503 at once, nothing saved, and app.close() ends promptly',
    async ({ instance: make, lockedBeforeWait }) => {
      const holder = await make();
      const closing = await make();
      const cookie = sessionCookie((await request(holder.app.getHttpServer()).post('/seed').expect(200)).headers)!;
      const held = request(holder.app.getHttpServer())
        .post('/count?gate=hold')
        .set('Cookie', cookie)
        .then((r) => r);
      await holder.gates.arrived('hold');

      let locked = 0;
      const atStore = new Promise<void>((resolve) => {
        const watch = () =>
          void closing.counter
            .next('getItemExclusive', (answer) => (answer as { kind: string }).kind === 'locked')
            .then(() => (++locked === lockedBeforeWait ? resolve() : watch()));
        watch();
      });
      const waiter = request(closing.app.getHttpServer())
        .post('/count')
        .set('Cookie', cookie)
        .then((r) => r);
      await atStore;
      expect(closing.waiting(idOf(cookie))).toBe(0); // at the store, not in this process's queue

      const started = performance.now();
      const closed = closing.app.close().then(() => performance.now() - started);
      const answer = await Promise.race([waiter, new Promise((r) => setTimeout(() => r('still waiting after 2 s'), 2_000))]);
      expect((answer as request.Response).status).toBe(503);
      // As a request queued in this process is answered at shutdown (ERRORS.md: no Retry-After).
      expect((answer as request.Response).body.message).toBe('Session state is unavailable; try again.');
      expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('close() still running after 2 s'), 2_000))])).toBeLessThan(2_000);

      holder.gates.open('hold');
      expect((await held).body).toEqual({ count: 1 });
      // The waiter saved nothing: the holder's increment is the only one.
      await request(holder.app.getHttpServer()).post('/count').set('Cookie', cookie).expect(200, { count: 2 });
      if (lockedBeforeWait === 2) expect(await locksLeft(redis.admin)).toBe(0);
    },
  );
});
