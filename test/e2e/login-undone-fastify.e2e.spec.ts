import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { sessionCookie, cartSession } from '../support/test-app.js';
import { configureFastifyPassport, createAuthenticator, fastifyPassportModule } from './fixtures/fastify-passport-app.js';

/**
 * On Fastify with @fastify/passport, a request of the same browser that started before a login (the
 * mount's read found the anonymous session) and ends after it must not sign the user out with its
 * Set-Cookie: (1) a Required route is refused (409) instead of starting a new session under a new id;
 * (3) a read-only route does not re-sign the cookie of the id it loaded (after a secret rotation)
 * once that id is gone. Found by a review.
 */
const OLD = 'old-secret-0123456789';
const NEW = 'new-secret-0123456789';

describe('a login undone by a request that started before it (Fastify, @fastify/passport)', () => {
  const store = new InMemorySessionStateStore();
  let before: NestFastifyApplication;
  let app: NestFastifyApplication;
  const gates = new Gates();

  async function make(secret: string | string[], gated: boolean): Promise<NestFastifyApplication> {
    const passport = createAuthenticator();
    const moduleRef = await Test.createTestingModule({ imports: [fastifyPassportModule(store, passport, { secret })] }).compile();
    const nest = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await configureFastifyPassport(nest, passport);
    if (gated)
      // Holds a request marked x-gate after the mount's read (onRequest), before the route's guards.
      nest
        .getHttpAdapter()
        .getInstance()
        .addHook('preHandler', async (req) => {
          const name = req.headers['x-gate'];
          if (typeof name === 'string') await gates.pass(name);
        });
    await nest.init();
    await nest.getHttpAdapter().getInstance().ready();
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

  async function race(path: string, method: 'get' | 'post') {
    const http = () => request(app.getHttpServer());
    const anon = await cartSession(before.getHttpServer());
    const earlier = http()
      [method](path)
      .set('Cookie', anon)
      .set('x-gate', path)
      .send(method === 'post' ? { note: 'x' } : undefined)
      .then((r) => r);
    await gates.arrived(path);
    const login = await http().post('/login').set('Cookie', anon).send({ username: 'john', password: 'changeme' }).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    await http().get('/me').set('Cookie', loggedIn).expect(200);
    gates.open(path);
    const res = await earlier;
    const me = await http()
      .get('/me')
      .set('Cookie', sessionCookie(res.headers) ?? loggedIn);
    return { status: res.status, newCookie: sessionCookie(res.headers) ?? null, meAfter: me.status };
  }

  it('(1) a Required route that locks after the login moved the session: 409, no new session cookie over the login', async () => {
    expect(await race('/api/set', 'post')).toEqual({ status: 409, newCookie: null, meAfter: 200 });
  });

  it('(3) a read-only route finishing after the login: no Set-Cookie naming the moved session', async () => {
    expect(await race('/login-page', 'get')).toEqual({ status: 200, newCookie: null, meAfter: 200 });
  });
});
