/**
 * Requests of a session that wait at the mount while a login moves the session (or a logout ends
 * it): a route that does not use the session still runs (as with express-session) and sets no
 * cookie over the login's; a route that uses it is refused with the 409 it gets without the mount.
 * Ordered by events: the login is parked at a gate while it holds the lock, the others are seen waiting.
 */
import { Controller, Get, HttpCode, Post, Query, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
} from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { startMetricsProbe, type MetricsProbe } from '../support/metrics-reader.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

const ran: string[] = [];

@Controller()
class Ctl {
  constructor(private readonly gates: Gates) {}

  @Post('start')
  @HttpCode(200)
  start(@Session() session: HttpSessionState) {
    session.set('cart', ['apple']);
    return 'ok';
  }

  /** A login (the session moves to a new id) or a logout (it ends), parked at the gate while it holds the lock. */
  @Post('change')
  @HttpCode(200)
  async change(@Session() session: HttpSessionState, @Query('to') to: 'login' | 'logout') {
    if (to === 'login') {
      session.regenerateId();
      session.set('user', 'ada');
    } else {
      session.abandon();
    }
    await this.gates.pass('change');
    return 'ok';
  }

  @Get('side-effect')
  sideEffect() {
    ran.push('side-effect');
    return 'done';
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('read-only')
  readOnly(@Session() session: HttpSessionState) {
    ran.push('read-only');
    return { cart: session.get('cart') ?? null };
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('required')
  @HttpCode(200)
  required() {
    ran.push('required');
    return 'done';
  }
}

async function mountedApp(adapter: AdapterName, gates: Gates): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), cookie: { name: 'sid' } })],
    controllers: [Ctl],
    providers: [{ provide: Gates, useValue: gates }],
  }).compile();
  const app: INestApplication =
    adapter === 'express'
      ? moduleRef.createNestApplication({ logger: false })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await mountSessionState(app);
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

let probe: MetricsProbe;
beforeAll(() => {
  probe = startMetricsProbe(); // before any app starts: the module's meter comes from the global provider
});
afterAll(() => probe.stop());

describe.each(ADAPTERS)('requests waiting at the mount while the session moves or ends, on %s', (adapter: AdapterName) => {
  let app: INestApplication;
  let gates: Gates;

  beforeEach(async () => {
    ran.length = 0;
    gates = new Gates(); // one per test: a gate opened in one test stays open
    app = await mountedApp(adapter, gates);
  });

  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  it.each(['login', 'logout'])('%s: the route without the session answers 200 without a cookie; routes using the session get 409', async (to) => {
    const http = () => request(app.getHttpServer());
    const cookie = sessionCookie((await http().post('/start').expect(200)).headers)!;
    const change = http()
      .post(`/change?to=${to}`)
      .set('Cookie', cookie)
      .then((r) => r);
    await gates.arrived('change');
    const waiting = [http().get('/side-effect'), http().get('/read-only'), http().post('/required')].map((r) =>
      r.set('Cookie', cookie).then((res) => res),
    );
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).locks.waiting(cookie.slice('sid='.length))).toBe(3));
    const before = await probe.read();
    gates.open('change');
    expect((await change).status).toBe(200);
    const [sideEffect, readOnly, required] = await Promise.all(waiting);
    expect({
      sideEffect: [sideEffect.status, sideEffect.text, sessionCookie(sideEffect.headers)],
      readOnly: [readOnly.status, sessionCookie(readOnly.headers)],
      required: [required.status, sessionCookie(required.headers)],
      ran,
    }).toEqual({
      sideEffect: [200, 'done', undefined],
      readOnly: [409, undefined],
      required: [409, undefined],
      ran: ['side-effect'],
    });
    expect(readOnly.body.message).toContain('moved or ended');
    expect([readOnly.headers['retry-after'], required.headers['retry-after']]).toEqual(['1', '1']); // the holder has finished: retry
    // Counted as refused once each: the two routes that use the session, not the one that answered 200.
    expect((await probe.since(before))['session_state.request.rejected{reason=lock_lost}']).toBe(2);
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});
