import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore, type OwnerCapPolicy } from '../../src/index.js';
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
