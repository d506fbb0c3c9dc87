import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { Gates, parkNamed } from '../support/gates.js';
import { sessionCookie, cartSession } from '../support/test-app.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

/**
 * A request of the same browser that started before a login (its mount read found the anonymous
 * session stored) and takes its lock after the login moved that session finds the old id absent
 * without having waited. It must not start a new session under a new id: its cookie would replace the
 * login's, signing the user out by a request that began before the login. It is refused as one that
 * waited for the login (409, retry; `storedEarlier`). Found by a review; express-session sends no new cookie there either.
 */
describe('a login undone by a request that started before it (Express, mount)', () => {
  let app: INestApplication;
  const gates = new Gates();
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(new InMemorySessionStateStore())] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    // Holds a request marked x-gate after the mount's read, before its route's guard locks the session.
    await configureExpressPassport(app, parkNamed(gates));
    await app.init();
  });
  afterAll(() => {
    gates.openAll(); // a failed test leaves no request parked
    return app.close();
  });

  it('the earlier request answers 409 (or keeps the login cookie): it must not set a new session cookie over the login', async () => {
    // An anonymous session (a cart).
    const anon = await cartSession(app.getHttpServer());
    // R1: started before the login, with the anonymous cookie; its mount read found the session live.
    const earlier = http()
      .post('/api/set')
      .set('Cookie', anon)
      .set('x-gate', 'earlier')
      .send({ note: 'x' })
      .then((r) => r);
    await gates.arrived('earlier');
    // The login, with the same cookie: moves the session to a new id, removes the old one.
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    await http().get('/me').set('Cookie', loggedIn).expect(200);
    gates.open('earlier');
    const res = await earlier;
    const cookieAfter = sessionCookie(res.headers) ?? loggedIn; // the browser keeps the login cookie unless replaced
    // The browser now sends cookieAfter: still signed in?
    const me = await http().get('/me').set('Cookie', cookieAfter);
    expect({ status: res.status, newCookie: sessionCookie(res.headers) ?? null, meAfter: me.status }).toEqual({
      status: 409,
      newCookie: null,
      meAfter: 200,
    });
  });
});
