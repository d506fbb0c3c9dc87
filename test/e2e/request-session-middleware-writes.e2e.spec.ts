/**
 * express-session's canonical example — a middleware counting views in req.session — with concurrent
 * requests of one session to a route that writes (Required). The middleware runs before the route is
 * known, on the mount's unlocked read: when another request changed the session meanwhile, its change
 * is refused (409, nothing saved) rather than carried over onto newer data (a lost update).
 */
import { Controller, HttpCode, Post, Req, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type RequestSession,
} from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

/** Made afresh per test: a gate opened in one test stays open. */
let gates = new Gates();

/** A global guard before the mount's: parks a request (`x-park: name`) after the middleware ran, before the route's lock. */
class ParkingGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const park = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers['x-park'];
    if (park) await gates.pass(park);
    return true;
  }
}

@Controller()
class Ctl {
  @SessionState(SessionStateBehavior.Required)
  @Post('page')
  @HttpCode(200)
  async page(@Req() req: { session: RequestSession }) {
    await new Promise((r) => setTimeout(r, 5));
    return { views: req.session.get('views') };
  }
}

async function createApp(adapter: AdapterName, store: InMemorySessionStateStore): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })],
    controllers: [Ctl],
  }).compile();
  const countViews = (session: RequestSession) => session.set('views', ((session.get('views') as number | undefined) ?? 0) + 1);
  if (adapter === 'express') {
    const app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalGuards(new ParkingGuard());
    await mountSessionState(app);
    app.use((req: { session: RequestSession }, _res: unknown, next: () => void) => (countViews(req.session), next()));
    await app.init();
    return app;
  }
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  app.useGlobalGuards(new ParkingGuard());
  await mountSessionState(app);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preHandler', async (req) => countViews((req as unknown as { session: RequestSession }).session));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(ADAPTERS)('a middleware counting views, concurrent requests to a Required route, on %s', (adapter) => {
  it('20 concurrent requests: each answered 200 (counted) or 409 (refused, nothing saved) — never a silent lost update', async () => {
    const store = new InMemorySessionStateStore();
    const app = await createApp(adapter, store);
    try {
      const first = await request(app.getHttpServer()).post('/page').expect(200, { views: 1 });
      const cookie = sessionCookie(first.headers)!;
      const answers = await Promise.all(Array.from({ length: 20 }, () => request(app.getHttpServer()).post('/page').set('Cookie', cookie)));
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s !== 200 && s !== 409)).toEqual([]);
      const counted = statuses.filter((s) => s === 200).length;
      expect(counted).toBeGreaterThan(0);
      for (const refused of answers.filter((a) => a.status === 409))
        expect(refused.body.message).toContain('another request of this session changed it');
      const last = await request(app.getHttpServer()).post('/page').set('Cookie', cookie).expect(200);
      // Every 200 counted once, every 409 not at all: the first, the counted ones, this last one.
      expect(last.body.views).toBe(1 + counted + 1);
    } finally {
      await app.close();
    }
  });
  it('a request whose middleware counted on data another request changed before it got the lock: 409 with Retry-After, nothing saved', async () => {
    gates = new Gates();
    const app = await createApp(adapter, new InMemorySessionStateStore());
    const http = () => request(app.getHttpServer());
    try {
      const cookie = sessionCookie((await http().post('/page').expect(200, { views: 1 })).headers)!;
      // The middleware counts 2 on the mount's read; the request parks before the route's lock.
      const outdated = http()
        .post('/page')
        .set('Cookie', cookie)
        .set('x-park', 'outdated')
        .then((r) => r);
      await gates.arrived('outdated');
      await http().post('/page').set('Cookie', cookie).expect(200, { views: 2 }); // another request counts 2 and saves
      gates.open('outdated');
      const refused = await outdated;
      expect({ status: refused.status, retryAfter: refused.headers['retry-after'], message: refused.body.message }).toEqual({
        status: 409,
        retryAfter: '1', // lockWait.retryAfterSeconds
        message: expect.stringContaining('another request of this session changed it meanwhile'),
      });
      await http().post('/page').set('Cookie', cookie).expect(200, { views: 3 }); // the refused count was not saved
    } finally {
      gates.openAll();
      await app.close();
    }
  });
});
