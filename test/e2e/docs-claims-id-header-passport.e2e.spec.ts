import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

/*
 * docs/ID-HEADER.md's `req.session` row (line 145: the mount reads the header and answers
 * the login's regenerated id in it) and its logout claim (lines 103-106: passport's logout() answers no
 * header; the value the client keeps then reads as no session), on the NestJS passport recipe (Express).
 */
describe('ID-HEADER.md: passport through the mount, the id in a header (express)', () => {
  let app: INestApplication;
  const store = new InMemorySessionStateStore();
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [passportRecipeModule(store, { secret: 'a secret of 16+ chars', idHeader: 'x-session-id' })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
  });
  afterAll(() => app.close());

  it('login answers the new id in the header (no Set-Cookie); it names the signed-in session; logout answers no header and the kept value reads as no session', async () => {
    const http = app.getHttpServer();
    const login = await request(http).post('/login').set('x-session-id', '').send({ username: 'john', password: 'changeme' });
    expect(login.status).toBe(200);
    expect(login.headers['set-cookie']).toBeUndefined();
    const id = login.headers['x-session-id'] as string;
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]+$/);

    const me = await request(http).get('/me').set('x-session-id', id);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ user: { id: 1, username: 'john' } });

    const logout = await request(http).post('/logout').set('x-session-id', id);
    expect(logout.status).toBe(200);
    expect(logout.headers['set-cookie']).toBeUndefined();
    expect(logout.headers['x-session-id']).toBeUndefined();

    expect((await request(http).get('/me').set('x-session-id', id)).status).toBe(403);
  });
});
