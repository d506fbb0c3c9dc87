import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore, type OwnerCapPolicy, type SessionStateStoreData } from '../../src/index.js';
import { idOf } from './session-app.js';
import { sessionCookie } from '../support/test-app.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';

/*
 * maxSessionsPerOwner with passport through mountSessionState: passport's login saves the session
 * mid-request (req.session.save()), its user becoming the owner; that save takes the place.
 */
describe.each(['refuse', 'revoke-oldest'] as const)('maxSessionsPerOwner 1 (%s) with passport on Express', (policy: OwnerCapPolicy) => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [passportRecipeModule(new InMemorySessionStateStore(), { maxSessionsPerOwner: 1, ownerCapPolicy: policy })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());

  const login = () => http().post('/login').send({ username: 'john', password: 'changeme' });

  it(policy === 'refuse' ? "a second device's login answers 409 and is not signed in" : "a second device's login signs the first out", async () => {
    const first = await login();
    expect(first.status).toBe(200);
    const firstCookie = sessionCookie(first.headers)!;
    const second = await login();
    if (policy === 'refuse') {
      expect(second.status).toBe(409);
      expect(second.body.message).toBe('Signed in on too many devices: at most 1 session at once. Sign out of another session first.');
      expect(sessionCookie(second.headers)).toBeUndefined();
      await http().get('/me').set('Cookie', firstCookie).expect(200);
    } else {
      expect(second.status).toBe(200);
      await http().get('/me').set('Cookie', firstCookie).expect(403);
      await http().get('/me').set('Cookie', sessionCookie(second.headers)!).expect(200);
    }
  });
});

describe.each(['refuse', 'revoke-oldest'] as const)('maxSessionsPerOwner 1 (%s) with @fastify/passport on Fastify', (policy: OwnerCapPolicy) => {
  let app: NestFastifyApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const passport = createAuthenticator();
    const moduleRef = await Test.createTestingModule({
      imports: [fastifyPassportModule(new InMemorySessionStateStore(), passport, { maxSessionsPerOwner: 1, ownerCapPolicy: policy })],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await configureFastifyPassport(app, passport);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  const login = () => http().post('/login').send({ username: 'john', password: 'changeme' });

  it(policy === 'refuse' ? "a second device's login answers 409 and is not signed in" : "a second device's login signs the first out", async () => {
    const first = await login();
    expect(first.status).toBe(200);
    const firstCookie = sessionCookie(first.headers)!;
    const second = await login();
    if (policy === 'refuse') {
      expect(second.status).toBe(409);
      expect(second.body.message).toBe('Signed in on too many devices: at most 1 session at once. Sign out of another session first.');
      expect(sessionCookie(second.headers)).toBeUndefined();
      await http().get('/me').set('Cookie', firstCookie).expect(200);
    } else {
      expect(second.status).toBe(200);
      await http().get('/me').set('Cookie', firstCookie).expect(403);
      await http().get('/me').set('Cookie', sessionCookie(second.headers)!).expect(200);
    }
  });
});

/**
 * A login saved mid-request (passport: regenerate, then save()) whose old id's lock is broken as
 * stale just before the save moves the session: another instance's coordinator would do it once the
 * login's lock is older than executionTimeout. Done here through the real store's API at that
 * instant (the moment is what a real run cannot produce on cue): the login is fenced out (409) like
 * any save whose lock was broken, its move undone, and the owner stays at the cap.
 */
describe.each(['express', 'fastify'] as const)(
  'maxSessionsPerOwner 1 with passport on %s: a re-login whose old id lost its lock to a stale break',
  (adapter) => {
    let app: INestApplication;
    const store = new InMemorySessionStateStore();
    const http = () => request(app.getHttpServer());

    beforeAll(async () => {
      const options = { maxSessionsPerOwner: 1, ownerCapPolicy: 'refuse' as const };
      if (adapter === 'express') {
        const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store, options)] }).compile();
        app = moduleRef.createNestApplication({ logger: false });
        await configureExpressPassport(app);
        await app.init();
      } else {
        const passport = createAuthenticator();
        const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport, options)] }).compile();
        const fastify = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
        await configureFastifyPassport(fastify, passport);
        await fastify.init();
        await fastify.getHttpAdapter().getInstance().ready();
        app = fastify;
      }
    });
    afterAll(() => app.close());

    it('is fenced out (409): the move undone, the old record (its holder) saves, the owner at the cap', async () => {
      const login = (cookie?: string) => {
        const req = http().post('/login');
        return (cookie ? req.set('Cookie', cookie) : req).send({ username: 'john', password: 'changeme' });
      };
      const first = await login();
      expect(first.status).toBe(200);
      const oldCookie = sessionCookie(first.headers)!;
      const oldId = idOf(oldCookie);
      let breaker: { lockId: string; item: SessionStateStoreData } | undefined;
      /** Before the new id is first written (mid-request on Express, at completion on Fastify), the old id's lock is broken and held. */
      const breakOldLock = async () => {
        if (breaker !== undefined) return;
        const held = await store.getItemExclusive(oldId);
        if (held.kind !== 'locked') throw new Error(`expected the login's lock on the old id, got ${held.kind}`);
        expect(await store.releaseItemExclusive(oldId, held.lockId)).toBe(true);
        const taken = await store.getItemExclusive(oldId);
        if (taken.kind !== 'acquired') throw new Error(`expected to take the lock, got ${taken.kind}`);
        breaker = { lockId: taken.lockId, item: taken.item };
      };
      const insertLocked = store.setItemExclusive.bind(store);
      const insert = store.setAndReleaseItemExclusive.bind(store);
      const spies = [
        vi.spyOn(store, 'setItemExclusive').mockImplementation(async (id, item, lockId, newItem) => {
          if (newItem) await breakOldLock();
          return insertLocked(id, item, lockId, newItem);
        }),
        vi.spyOn(store, 'setAndReleaseItemExclusive').mockImplementation(async (id, item, lockId, newItem) => {
          if (newItem) await breakOldLock();
          return insert(id, item, lockId, newItem);
        }),
      ];
      try {
        const again = await login(oldCookie);
        expect(again.status).toBe(409);
        expect(breaker).toBeDefined();
        expect(sessionCookie(again.headers)).toBeUndefined();
        for (const spy of spies) spy.mockRestore();
        // passport's user id is the owner: only the old record is the owner's, and its holder's save stands.
        expect((await store.listOwnerSessions('1')).map((s) => s.id)).toEqual([oldId]);
        await store.setAndReleaseItemExclusive(oldId, breaker!.item, breaker!.lockId, false);
        await http().get('/me').set('Cookie', oldCookie).expect(200);
      } finally {
        for (const spy of spies) spy.mockRestore();
      }
    });
  },
);
