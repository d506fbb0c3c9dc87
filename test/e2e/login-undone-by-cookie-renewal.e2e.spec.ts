import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { Gates, parkNamed } from '../support/gates.js';
import { sessionCookie, cartSession } from '../support/test-app.js';
import { configureExpressPassport, passportRecipeModule } from './fixtures/passport-recipe.js';

/**
 * A read-only request whose cookie is re-signed at its end (its signature is by an older secret after
 * a rotation; likewise a persistent cookie renewed with a slid expiry) would send `Set-Cookie` with
 * the id it loaded. If a login of the same browser moved that session meanwhile (the read-only request
 * started before the login and finished after it), that cookie names the removed id and would replace
 * the login's: the user signed out. The renewal first checks the record is still stored (found by a review).
 */
const OLD = 'old-secret-0123456789';
const NEW = 'new-secret-0123456789';

describe('a login undone by a read-only request re-signing the old cookie (Express, mount, secret rotation)', () => {
  let before: INestApplication; // the app as deployed before the rotation
  let app: INestApplication; // after it: [NEW, OLD]
  const gates = new Gates();
  const store = new InMemorySessionStateStore();

  async function make(secret: string | string[], gated: boolean): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({ imports: [passportRecipeModule(store, { secret })] }).compile();
    const nest = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(nest, gated ? parkNamed(gates) : undefined);
    await nest.init();
    return nest;
  }
  beforeAll(async () => {
    before = await make(OLD, false);
    app = await make([NEW, OLD], true);
  });
  afterAll(async () => {
    gates.openAll(); // a failed test leaves no request parked
    await before.close();
    await app.close();
  });

  it('the read-only request finishing after the login sends no cookie naming the moved session', async () => {
    const http = () => request(app.getHttpServer());
    // An anonymous session made before the rotation: its cookie is signed with OLD.
    const anon = await cartSession(before.getHttpServer());
    // R1: a read-only page, started before the login.
    const earlier = http()
      .get('/login-page')
      .set('Cookie', anon)
      .set('x-gate', 'earlier')
      .then((r) => r);
    await gates.arrived('earlier');
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    await http().get('/me').set('Cookie', loggedIn).expect(200);
    gates.open('earlier');
    const res = await earlier;
    const cookieAfter = sessionCookie(res.headers) ?? loggedIn;
    const me = await http().get('/me').set('Cookie', cookieAfter);
    expect({ status: res.status, newCookie: sessionCookie(res.headers) ?? null, meAfter: me.status }).toEqual({
      status: 200,
      newCookie: null,
      meAfter: 200,
    });
  });
});
