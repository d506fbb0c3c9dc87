/**
 * The moved session's marker under `mountSessionState` with passport (its login saves mid-request,
 * `req.session.save()`, and so removes the old id there): a write sent with the anonymous cookie after
 * the login finished is refused (409, no cookie) on Express (passport) and Fastify (@fastify/passport),
 * and the user stays signed in; a read with it still answers 200 without a cookie.
 */
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { cartSession, sessionCookie, type AdapterName } from '../support/test-app.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

async function passportApp(adapter: AdapterName): Promise<INestApplication> {
  const store = new InMemorySessionStateStore();
  if (adapter === 'express') {
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
    return app;
  }
  const passport = createAuthenticator();
  const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport)] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await configureFastifyPassport(app, passport);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(['express', 'fastify'] as const)('a passport login is not undone by a request with the old cookie (%s, mount)', (adapter) => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  beforeAll(async () => {
    app = await passportApp(adapter);
  });
  afterAll(() => app.close());

  it('a write with the anonymous cookie after the login: 409, no cookie; the user stays signed in', async () => {
    const anon = await cartSession(app.getHttpServer());
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    const late = await http().post('/api/set').set('Cookie', anon).send({ note: 'x' });
    expect(late.status).toBe(409);
    expect(late.headers['retry-after']).toBe('1');
    expect(sessionCookie(late.headers)).toBeUndefined();
    await http().get('/me').set('Cookie', loggedIn).expect(200);
  });

  it('a read-only route with the anonymous cookie after the login: 200, no cookie', async () => {
    const anon = await cartSession(app.getHttpServer());
    await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const read = await http().get('/login-page').set('Cookie', anon).expect(200, { messages: [] });
    expect(read.headers['set-cookie']).toBeUndefined();
  });
});
