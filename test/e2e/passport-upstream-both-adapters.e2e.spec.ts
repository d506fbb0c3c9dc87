/**
 * request.test.js "#login establishing a session" sent several times at once with one
 * anonymous cookie (a double-clicked sign-in form, two tabs), on Express (passport, @nestjs/passport's
 * guard) and Fastify (@fastify/passport). express-session / @fastify/session log every one of them in, each
 * under its own new id. With the lock, one moves the session; the others waited for it and find it
 * moved: 409 (retry), no cookie, never a 5xx, and no second session.
 */
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateStoreUnavailableError } from '../../src/index.js';
import { sessionCookie } from '../support/test-app.js';
import { USERS, configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';

async function express(store: InMemorySessionStateStore): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await configureExpressPassport(app);
  await app.init();
  return app;
}
async function fastify(store: InMemorySessionStateStore): Promise<INestApplication> {
  const passport = createAuthenticator();
  const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport)] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await configureFastifyPassport(app, passport);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe.each([
  ['express', express],
  ['fastify', fastify],
] as const)('concurrent logins with one anonymous cookie (%s)', (_name, make) => {
  let app: INestApplication;
  const store = new InMemorySessionStateStore();
  beforeAll(async () => (app = await make(store)));
  afterAll(() => app.close());

  it('one signs in; the others answer 409 with no cookie; one session for the user', async () => {
    const http = () => request(app.getHttpServer());
    const anonymous = sessionCookie(
      (
        await http()
          .post('/api/set')
          .send({ cart: ['a'] })
          .expect(200)
      ).headers,
    )!;
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => http().post('/login').set('Cookie', anonymous).send({ username: 'john', password: 'changeme' })),
    );
    const statuses = answers.map((a) => a.status).sort((x, y) => x - y);
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409]);
    for (const refused of answers.filter((a) => a.status === 409)) expect(sessionCookie(refused.headers)).toBeUndefined();
    const cookie = sessionCookie(answers.find((a) => a.status === 200)!.headers)!;
    await http().get('/me').set('Cookie', cookie).expect(200);
    expect(await store.listOwnerSessions('1')).toHaveLength(1);
  });
});

/**
 * strategies/session.test.js "a user that no longer exists" followed by a sign-in with the same cookie:
 * the session strategy's removal (passport: `delete passport.user`; @fastify/passport: `logOut()`, a
 * regenerate) happens before the route is known, then the login route moves the session.
 */
describe.each([
  ['express', express],
  ['fastify', fastify],
] as const)('a sign-in with the cookie of a user that no longer exists (%s)', (_name, make) => {
  let app: INestApplication;
  const store = new InMemorySessionStateStore();
  beforeAll(async () => (app = await make(store)));
  afterAll(() => app.close());

  it('signs the new user in under a new id; the stale session is gone', async () => {
    const http = () => request(app.getHttpServer());
    const maria = sessionCookie((await http().post('/login').send({ username: 'maria', password: 'guess' }).expect(200)).headers)!;
    const removed = USERS.splice(1, 1);
    try {
      await http().get('/me').set('Cookie', maria).expect(403);
      const res = await http().post('/login').set('Cookie', maria).send({ username: 'john', password: 'changeme' });
      expect(res.status).toBe(200);
      const john = sessionCookie(res.headers)!;
      expect(john).toBeDefined();
      expect(john).not.toBe(maria);
      await http()
        .get('/me')
        .set('Cookie', john)
        .expect(200, { user: { id: 1, username: 'john' } });
      expect((await store.getItem(maria.slice(maria.indexOf('=') + 1))).kind).toBe('absent');
    } finally {
      USERS.splice(1, 0, ...removed);
    }
  });
});

/** The in-memory store whose removals fail while `failing` (a backend outage a real in-memory store cannot produce). */
class FailingRemovalStore extends InMemorySessionStateStore {
  failing = false;
  override async removeItem(...args: Parameters<InMemorySessionStateStore['removeItem']>): Promise<void> {
    if (this.failing) throw new SessionStateStoreUnavailableError('the backend did not answer');
    return super.removeItem(...args);
  }
}

/**
 * request.test.js "#logout encountering an error saving existing session" / "…regenerating session": the
 * logout's error reaches the client, never a 2xx for a logout that was not stored. (@fastify/passport's
 * logOut() saves nothing itself: the removal happens at the end of the request.)
 */
describe.each([
  ['express', express],
  ['fastify', fastify],
] as const)('a logout whose removal fails (%s)', (_name, make) => {
  let app: INestApplication;
  const store = new FailingRemovalStore();
  beforeAll(async () => (app = await make(store)));
  afterAll(() => app.close());

  it('an error answer, not 200; afterwards the session is usable (no lock left)', async () => {
    const http = () => request(app.getHttpServer());
    const cookie = sessionCookie((await http().post('/login').send({ username: 'john', password: 'changeme' }).expect(200)).headers)!;
    store.failing = true;
    let status: number;
    try {
      status = (await http().post('/logout').set('Cookie', cookie)).status;
    } finally {
      store.failing = false;
    }
    expect(status).toBeGreaterThanOrEqual(500);
    await http().post('/logout').set('Cookie', cookie).expect(200);
    await http().get('/me').set('Cookie', cookie).expect(403);
  });
});
