import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { sessionCookie } from '../support/test-app.js';
import { configureExpressPassport, passportRecipeModule, USERS } from './fixtures/passport-recipe.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';

/**
 * a deserializeUser that throws (the user database is down). As with express-session
 * / @fastify/session: an error answer (500), never a hang; then no lock is left, and once the
 * database is back the login still stands (nothing was removed).
 */
let failing = false;
// The fixtures' deserializers look users up in USERS: an entry whose id throws while `failing`.
const broken = {
  get id(): number {
    if (failing) throw new Error('user database unreachable');
    return -1;
  },
  username: 'x',
  password: 'x',
};

async function express(): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(new InMemorySessionStateStore())] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await configureExpressPassport(app);
  await app.init();
  return app;
}
async function fastify(): Promise<INestApplication> {
  const passport = createAuthenticator();
  const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(new InMemorySessionStateStore(), passport)] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await configureFastifyPassport(app, passport);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe.each([
  ['express', express],
  ['fastify', fastify],
] as const)('a deserializeUser that throws (%s)', (_name, make) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await make();
    USERS.unshift(broken);
  });
  afterAll(async () => {
    USERS.splice(USERS.indexOf(broken), 1);
    await app.close();
  });

  it('500 on a route that writes and one that does not; no lock left; the login stands afterwards', async () => {
    const http = () => request(app.getHttpServer());
    const cookie = sessionCookie((await http().post('/login').send({ username: 'john', password: 'changeme' }).expect(200)).headers)!;
    failing = true;
    let statuses: number[];
    try {
      statuses = [
        (await http().get('/me').set('Cookie', cookie)).status,
        (await http().post('/api/set').set('Cookie', cookie).send({ a: 1 })).status,
      ];
    } finally {
      failing = false;
    }
    expect(statuses).toEqual([500, 500]);
    await http().get('/me').set('Cookie', cookie).expect(200);
    await http().post('/api/set').set('Cookie', cookie).send({ a: 1 }).expect(200);
  });
});
