/**
 * Concurrent writers through req.session with mid-request save(), one app and two apps
 * sharing one store (two processes' worth of lock coordinators), on both adapters.
 */
import { Controller, Get, HttpCode, Post, Req, type INestApplication } from '@nestjs/common';
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
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

@Controller()
class Ctl {
  @SessionState(SessionStateBehavior.Required)
  @Post('inc')
  @HttpCode(200)
  async inc(@Req() req: { session: RequestSession }) {
    const s = req.session;
    const n = (s.get('n') as number | undefined) ?? 0;
    s.set('n', n + 1);
    await s.save();
    await new Promise((r) => setTimeout(r, 2));
    s.set('m', n + 1);
    return { n: n + 1 };
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('read')
  read(@Req() req: { session: RequestSession }) {
    return { n: req.session.get('n') ?? null, m: req.session.get('m') ?? null };
  }
}

async function createApp(adapter: AdapterName, store: InMemorySessionStateStore): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })],
    controllers: [Ctl],
  }).compile();
  const app =
    adapter === 'express'
      ? moduleRef.createNestApplication({ logger: false })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await mountSessionState(app);
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(ADAPTERS)('concurrent writers with save() on %s', (adapter) => {
  it('one app: 40 concurrent requests → 40, both the saved-mid-request and the saved-at-end keys', async () => {
    const store = new InMemorySessionStateStore();
    const app = await createApp(adapter, store);
    try {
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/inc').expect(200)).headers)!;
      const answers = await Promise.all(Array.from({ length: 40 }, () => request(app.getHttpServer()).post('/inc').set('Cookie', cookie)));
      expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
      await request(app.getHttpServer()).get('/read').set('Cookie', cookie).expect(200, { n: 41, m: 41 });
    } finally {
      await app.close();
    }
  });

  it('two apps sharing one store (two processes): 30 concurrent requests alternating → 30', async () => {
    const store = new InMemorySessionStateStore();
    const a = await createApp(adapter, store);
    const b = await createApp(adapter, store);
    try {
      const cookie = sessionCookie((await request(a.getHttpServer()).post('/inc').expect(200)).headers)!;
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          request((i % 2 ? a : b).getHttpServer())
            .post('/inc')
            .set('Cookie', cookie),
        ),
      );
      expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
      await request(a.getHttpServer()).get('/read').set('Cookie', cookie).expect(200, { n: 31, m: 31 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
