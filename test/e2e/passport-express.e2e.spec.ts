import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { sessionCookie } from '../support/test-app.js';
import { Test } from '@nestjs/testing';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

describe("NestJS's passport session recipe on Express, with mountSessionState(app) in place of express-session", () => {
  let app: INestApplication;
  let counter: StoreCallCounter | undefined;
  let store: InMemorySessionStateStore;

  beforeAll(async () => {
    const counted = countingStore(new InMemorySessionStateStore());
    store = counted.store;
    counter = counted.counter;
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store)] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());
  afterEach(() => counter?.reset());

  const login = (username = 'john', password = 'changeme', cookie?: string) => {
    const req = request(app.getHttpServer()).post('/login').send({ username, password });
    return cookie ? req.set('Cookie', cookie) : req;
  };

  it('login signs in and regenerates the id; the protected route answers 403 before, 200 after', async () => {
    await request(app.getHttpServer()).get('/me').expect(403);
    const first = await login();
    expect(first.status).toBe(200);
    const cookie = sessionCookie(first.headers)!;
    expect(cookie).toBeDefined();
    expect(first.body.user).toEqual({ id: 1, username: 'john' });
    await request(app.getHttpServer())
      .get('/me')
      .set('Cookie', cookie)
      .expect(200, { user: { id: 1, username: 'john' } });
  });
});
