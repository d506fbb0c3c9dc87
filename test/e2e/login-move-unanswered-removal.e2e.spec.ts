/**
 * A login whose removal of the old id gets no answer, under `maxSessionsPerOwner: 1`. The lifecycle
 * releases the old lock to settle whether the removal landed (review R10):
 * - released: the removal never landed and no longer can; the move is undone (503, no cookie), the old
 *   session unlocked, the owner at one live session;
 * - the release that would tell gets no answer either: the login completes under its new
 *   id, and the old id's place is not given back (the old record may live on).
 */
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { SessionStateModule } from '../../src/index.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { UnansweredRemovalStore as Unanswered } from '../support/unanswered-removal-store.js';
import { OwnerCapController } from '../e2e/fixtures/owner-cap.controller.js';

describe.each(ADAPTERS)('an unknown removal under maxSessionsPerOwner: 1 over %s', (adapter) => {
  const records = (store: Unanswered) => [...store.stored().values()];

  async function signedIn(store: Unanswered) {
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: 1, ownerCapPolicy: 'refuse' })],
      controllers: [OwnerCapController],
    });
    const first = sessionCookie((await request(app.getHttpServer()).post('/login?user=u').expect(200)).headers)!;
    return { app, http: app.getHttpServer(), first };
  }

  it('the release answers: the move is undone (503), the old session unlocked, the owner at the cap', async () => {
    const store = new Unanswered();
    const { app, http, first } = await signedIn(store);
    try {
      store.fail = true;
      const again = await request(http).post('/login?user=u').set('Cookie', first);
      expect({ status: again.status, cookie: sessionCookie(again.headers) }).toEqual({ status: 503, cookie: undefined });
      expect({ locked: records(store).filter((r) => r.lockId !== null).length, live: (await store.listOwnerSessions('u')).length }).toEqual({
        locked: 0,
        live: 1,
      });
      await request(http).get('/me').set('Cookie', first).expect(200, { user: 'u', note: null });
    } finally {
      await app.close();
    }
  });

  it('the release answers: that one release settles it; the completion does not release again nor warn of a stale lock', async () => {
    const store = new Unanswered();
    const { app, http, first } = await signedIn(store);
    const warnings = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
    try {
      const releases = vi.spyOn(store, 'releaseItemExclusive');
      store.fail = true;
      expect((await request(http).post('/login?user=u').set('Cookie', first)).status).toBe(503);
      expect(releases).toHaveBeenCalledTimes(1);
      expect(warnings.mock.calls.map(([message]) => String(message)).filter((m) => m.includes('broken as stale'))).toEqual([]);
    } finally {
      warnings.mockRestore();
      await app.close();
    }
  });

  it('nothing answers: the login completes under its new id, and the old place stays in the book', async () => {
    const store = new Unanswered();
    const { app, http, first } = await signedIn(store);
    try {
      store.fail = true;
      store.always = true; // the removal sent again gets no answer either
      store.blind = true;
      const again = await request(http).post('/login?user=u').set('Cookie', first).expect(200);
      const next = sessionCookie(again.headers)!;
      await request(http).get('/me').set('Cookie', next).expect(200, { user: 'u', note: null });
      // The old record may live (it does here, still locked): its place is not given back, so another
      // device is refused rather than let in beside both.
      expect((await request(http).post('/login?user=u')).status).toBe(409);
    } finally {
      await app.close();
    }
  });

  it('nothing answers, under a cap of 2: once the move is no longer under way, the old record still counts, so a new device is refused', async () => {
    let now = Date.now();
    const store = new Unanswered({ clock: () => now });
    const app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store, maxSessionsPerOwner: 2, ownerCapPolicy: 'refuse', executionTimeout: 5 })],
      controllers: [OwnerCapController],
    });
    try {
      const http = app.getHttpServer();
      const first = sessionCookie((await request(http).post('/login?user=u').expect(200)).headers)!;
      store.fail = true;
      store.always = true; // the removal sent again gets no answer either
      store.blind = true;
      await request(http).post('/login?user=u').set('Cookie', first).expect(200);
      // Past executionTimeout the two ids are no longer one move under way: the old record (alive, still
      // locked) and the new one fill the cap. Had the old place been given back, this device would make three.
      now += 6_000;
      expect(records(store).length).toBe(2);
      expect((await request(http).post('/login?user=u')).status).toBe(409);
    } finally {
      await app.close();
    }
  });
});
