import { Controller, HttpCode, Injectable, Module, Post, Req, UseGuards, type CanActivate, type INestApplication } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import request from 'supertest';
import { SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { RedisSessionStateStore } from '../../src/redis/index.js';
import { locksLeft } from '../support/redis-test-helpers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { sessionCookie } from '../support/test-app.js';
import { createClient, type RedisClientType } from 'redis';
import { ExpressSessionApiController } from '../e2e/fixtures/express-session-api.controller.js';
import {
  LocalAuthGuard,
  LocalStrategy,
  PassportRecipeController,
  SessionSerializer,
  configureExpressPassport,
} from '../e2e/fixtures/passport-recipe.js';

/**
 * A request of the
 * same browser that holds or waits for the session across a login on the other instance never undoes
 * the login; 20 concurrent writes alternating between the instances all count.
 */
const gates = new Map<string, { reached: () => void; arrived: Promise<void>; open: () => void; opened: Promise<void> }>();
function gate(name: string) {
  let reached!: () => void;
  let open!: () => void;
  const g = {
    reached: () => reached(),
    arrived: new Promise<void>((r) => (reached = r)),
    open: () => open(),
    opened: new Promise<void>((r) => (open = r)),
  };
  gates.set(name, g);
  return g;
}

@Injectable()
class GateGuard implements CanActivate {
  async canActivate(context: import('@nestjs/common').ExecutionContext): Promise<boolean> {
    const name = context.switchToHttp().getRequest<Request>().headers['x-gate'];
    const g = typeof name === 'string' ? gates.get(name) : undefined;
    if (g) {
      g.reached();
      await g.opened;
    }
    return true;
  }
}

@Controller()
class GatedController {
  /** Holds the session's lock while gated (the global guard locked it before this guard). */
  @UseGuards(GateGuard, LocalAuthGuard)
  @SessionState(SessionStateBehavior.Required)
  @Post('login-gated')
  @HttpCode(200)
  login(@Req() req: Request) {
    return { user: req.user };
  }

  @UseGuards(GateGuard)
  @SessionState(SessionStateBehavior.Required)
  @Post('slow-write')
  @HttpCode(200)
  slow(@Req() req: Request) {
    (req.session as unknown as Record<string, unknown>).slow = 1;
    return { ok: true };
  }
}

let server: RedisServer;
let admin: RedisClientType;
const apps: INestApplication[] = [];
beforeAll(async () => {
  server = await startRedisServer();
  admin = createClient({ url: server.url });
  await admin.connect();
  for (let i = 0; i < 2; i++) {
    @Module({
      imports: [
        SessionStateModule.forRoot({ store: new RedisSessionStateStore({ url: server.url }), cookie: { name: 'sid' } }),
        PassportModule.register({ session: true }),
      ],
      controllers: [PassportRecipeController, ExpressSessionApiController, GatedController],
      providers: [LocalStrategy, SessionSerializer],
    })
    class M {}
    const moduleRef = await Test.createTestingModule({ imports: [M] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await configureExpressPassport(app);
    await app.init();
    apps.push(app);
  }
});
afterAll(async () => {
  for (const g of gates.values()) g.open();
  await Promise.all(apps.map((a) => a.close()));
  admin?.destroy();
  await server?.stop();
});

describe('passport on Redis, two instances', () => {
  const A = () => request(apps[0]!.getHttpServer());
  const B = () => request(apps[1]!.getHttpServer());
  const anonymous = async () =>
    sessionCookie(
      (
        await A()
          .post('/api/set')
          .send({ cart: ['a'] })
          .expect(200)
      ).headers,
    )!;

  it('a write on B holding the lock when a login starts on A: the login waits, then wins; both 200', async () => {
    const anon = await anonymous();
    const g = gate('slow');
    const slow = B()
      .post('/slow-write')
      .set('Cookie', anon)
      .set('x-gate', 'slow')
      .then((r) => r);
    await g.arrived;
    const login = A()
      .post('/login')
      .set('Cookie', anon)
      .send({ username: 'john', password: 'changeme' })
      .then((r) => r);
    g.open();
    const [s, l] = await Promise.all([slow, login]);
    expect([s.status, sessionCookie(s.headers) ?? null, l.status]).toEqual([200, null, 200]);
    await B().get('/me').set('Cookie', sessionCookie(l.headers)!).expect(200);
  });

  it('a login on A holding the lock; a write on B waiting for it: 409 for the write, no cookie; the login stands', async () => {
    const anon = await anonymous();
    const g = gate('login');
    const login = A()
      .post('/login-gated')
      .set('Cookie', anon)
      .set('x-gate', 'login')
      .send({ username: 'john', password: 'changeme' })
      .then((r) => r);
    await g.arrived;
    const write = B()
      .post('/api/set')
      .set('Cookie', anon)
      .send({ late: 1 })
      .then((r) => r);
    // B's request waits for the lock (its mount's read found it held).
    await vi.waitFor(async () => expect(await admin.hGet(`sess:{${anon.slice(anon.indexOf('=') + 1)}}`, 'w')).toBe('1'));
    g.open();
    const [l, w] = await Promise.all([login, write]);
    expect([l.status, w.status, sessionCookie(w.headers) ?? null]).toEqual([200, 409, null]);
    await B().get('/me').set('Cookie', sessionCookie(l.headers)!).expect(200);
    expect(await locksLeft(admin)).toBe(0);
  });

  it('20 concurrent writes of a signed-in browser, alternating instances: count 20', async () => {
    const l = await A().post('/login').send({ username: 'maria', password: 'guess' }).expect(200);
    const cookie = sessionCookie(l.headers)!;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? B() : A()).post('/count').set('Cookie', cookie)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    const got = await B().get('/api/get').set('Cookie', cookie).expect(200);
    expect(got.body.data.count).toBe(20);
  });
});
