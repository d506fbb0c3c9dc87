/**
 * `mountSessionState(app, { path })`: only requests under the path get `req.session` (and pay its
 * read); the others are served as in an app without the mount. On Express and Fastify.
 */
import { Controller, Get, Post, Req, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
} from '../../src/index.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

const hasSession = (req: { session?: unknown }) => ({ session: req.session !== undefined && req.session !== null });

@Controller()
class PathController {
  @Post('start')
  start(@Session() session: HttpSessionState) {
    session.set('n', 1);
    return 'ok';
  }

  @Get('ping')
  ping(@Req() req: { session?: unknown }) {
    return hasSession(req);
  }

  @Get('authors')
  authors(@Req() req: { session?: unknown }) {
    return hasSession(req);
  }

  @Get('auth/me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Req() req: { session?: unknown }) {
    return hasSession(req);
  }

  @Get('auth')
  auth(@Req() req: { session?: unknown }) {
    return hasSession(req);
  }
}

/** `caseSensitive`: Fastify's routing option (Express ignores case by default). */
async function createApp(adapter: AdapterName, store: InMemorySessionStateStore, path: string, caseSensitive = true): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [SessionStateModule.forRoot({ store })], controllers: [PathController] }).compile();
  const app =
    adapter === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ routerOptions: { caseSensitive } }), { logger: false })
      : moduleRef.createNestApplication({ logger: false });
  await mountSessionState(app, { path });
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(ADAPTERS)('mountSessionState(app, { path }) on %s', (adapter) => {
  let app: INestApplication;
  let counter: StoreCallCounter;
  let cookie: string;

  beforeAll(async () => {
    const counted = countingStore(new InMemorySessionStateStore());
    counter = counted.counter;
    app = await createApp(adapter, counted.store, '/auth');
    cookie = sessionCookie((await request(app.getHttpServer()).post('/start').expect(201)).headers)!;
  });
  afterAll(() => app?.close());

  it.each(['/auth', '/auth/me', '/auth?x=1'])('gives %s req.session, for one read', async (path) => {
    counter.reset();
    const res = await request(app.getHttpServer()).get(path).set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ session: true });
    expect(counter.sequence).toEqual(['getItem']);
  });

  it.each(['/ping', '/authors'])('leaves %s as without the mount: no req.session, no store call with a cookie', async (path) => {
    counter.reset();
    const res = await request(app.getHttpServer()).get(path).set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ session: false });
    expect(counter.sequence).toEqual([]);
  });

  it('matches the path as the adapter routes: /AUTH/me reaches the /auth/me route only where routing ignores case, and then has req.session', async () => {
    // Express ignores case (its default); Fastify as its caseSensitive option says: both ways.
    for (const sensitive of adapter === 'fastify' ? [true, false] : [false]) {
      const caseApp = await createApp(adapter, new InMemorySessionStateStore(), '/auth', sensitive);
      try {
        const start = sessionCookie((await request(caseApp.getHttpServer()).post('/start').expect(201)).headers)!;
        const res = await request(caseApp.getHttpServer()).get('/AUTH/me').set('Cookie', start);
        if (sensitive) expect(res.status).toBe(404);
        else expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 200, body: { session: true } });
      } finally {
        await caseApp.close();
      }
    }
  });

  it('refuses a path that does not start with /', async () => {
    const store = new InMemorySessionStateStore();
    await expect(createApp(adapter, store, 'auth')).rejects.toThrow('mountSessionState: path must be a string starting with \'/\' (got "auth")');
  });
});
