/**
 * The req.session mount on both adapters (no passport): garbage cookies, HEAD/OPTIONS,
 * clients aborting while a guard runs, early destroy on Fastify.
 */
import { Controller, Get, HttpCode, Injectable, Post, UseGuards, type CanActivate, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
  type HttpSessionState,
  type RequestSession,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { leavingClient, listening } from '../support/leaving-client.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

const idOf = (cookie: string) => cookie.slice(cookie.indexOf('=') + 1);

/** Made afresh for each adapter's app: a gate opened in one run stays open. */
let gates: Gates;

/** A route guard after the mount's: parks the request (holding the session's lock) until the test opens `slow-guard`. */
@Injectable()
class SlowGuard implements CanActivate {
  async canActivate(): Promise<boolean> {
    await gates.pass('slow-guard');
    return true;
  }
}

@Controller()
class Ctl {
  @Post('cart')
  @HttpCode(200)
  cart(@Session() session: HttpSessionState) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    return { n: session.get('n') };
  }

  @SessionState(SessionStateBehavior.Required)
  @Get('flash')
  flash() {
    return { ok: true };
  }

  @UseGuards(SlowGuard)
  @SessionState(SessionStateBehavior.Required)
  @Post('slow')
  @HttpCode(200)
  slow(@Session() session: HttpSessionState) {
    session.set('slow', true);
    return { ok: true };
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('after-destroy')
  @HttpCode(200)
  afterDestroy() {
    return { ok: true };
  }

  @Get('ping')
  ping() {
    return 'pong';
  }
}

async function createApp(adapter: AdapterName, store: InMemorySessionStateStore): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' }, secret: '0123456789abcdef0123' })],
    controllers: [Ctl],
  }).compile();
  const app =
    adapter === 'express'
      ? moduleRef.createNestApplication({ logger: false })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await mountSessionState(app);
  if (adapter === 'fastify') {
    const fastify = (app as NestFastifyApplication).getHttpAdapter().getInstance();
    fastify.addHook('preHandler', async (req) => {
      const { url, session } = req as unknown as { url: string; session: RequestSession };
      if (url === '/after-destroy') session.delete(); // @fastify/session: ends the session
    });
  } else {
    app.use('/after-destroy', (req: { session: RequestSession }, _res: unknown, next: (e?: unknown) => void) => req.session.destroy(next));
  }
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(ADAPTERS)('the mount on %s', (adapter) => {
  let app: INestApplication;
  let store: InMemorySessionStateStore;
  beforeAll(async () => {
    gates = new Gates();
    store = new InMemorySessionStateStore();
    app = await createApp(adapter, store);
  });
  afterAll(async () => {
    gates.openAll();
    await app.close();
  });
  const http = () => request(app.getHttpServer());
  const kind = async (cookie: string) => (await store.getItem(idOf(cookie).split('.')[0]!)).kind;

  it.each([
    'sid=',
    'sid=%',
    'sid=%E0%A4%A',
    'sid="unterminated',
    'sid=a; sid=b; sid=c',
    'sid=' + 'x'.repeat(5000),
    '=;=;=',
    'sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.bad-signature',
    'sid=\u00ff\u00fe',
  ])('garbage cookie #%#: not a 5xx', async (cookie) => {
    const res = await http().post('/cart').set('Cookie', cookie);
    expect(res.status).toBe(200);
    const ping = await http().get('/ping').set('Cookie', cookie);
    expect(ping.status).toBe(200);
  });

  it('HEAD and OPTIONS on a Required GET route: no lock left behind', async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    await http().head('/flash').set('Cookie', cookie);
    await http().options('/flash').set('Cookie', cookie);
    await http().head('/nowhere').set('Cookie', cookie);
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0)); // every lease completed
    expect(await kind(cookie)).toBe('loaded');
  });

  it('a client leaving while a guard after the mount runs (the lock held): the lock is released', async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    const server = app.getHttpServer();
    await listening(server);
    const client = leavingClient(server, { path: '/slow', cookie });
    await gates.arrived('slow-guard'); // the mount's guard locked the session; the route's guard runs
    client.leave();
    await client.closedOnServer;
    gates.open('slow-guard');
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    expect(await kind(cookie)).toBe('loaded');
    await http().post('/cart').set('Cookie', cookie).expect(200, { n: 2 });
  });

  it('req.session ended before the route was known (a middleware / preHandler hook), then a Required route: the session is removed', async () => {
    const cookie = sessionCookie((await http().post('/cart').expect(200)).headers)!;
    await http().post('/after-destroy').set('Cookie', cookie).expect(200);
    expect(await kind(cookie)).toBe('absent');
  });
});
