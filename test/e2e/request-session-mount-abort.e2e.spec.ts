/**
 * A client that leaves while the mount waits for its session's lock (another request of the
 * session writes): the request stops there on both adapters (Fastify: the onRequest hook hijacks
 * the reply), so its route never runs, and no guard meets a binding whose load failed.
 */
import { Controller, HttpCode, Post, type INestApplication } from '@nestjs/common';
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
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

const calls = { sideEffect: 0, required: 0 };

@Controller()
class Ctl {
  @Post('slow-write')
  @HttpCode(200)
  async slowWrite(@Session() session: HttpSessionState) {
    session.set('n', 1);
    await new Promise((r) => setTimeout(r, 600));
    return 'ok';
  }

  /** A route that does not use the session. */
  @Post('side-effect')
  @HttpCode(200)
  sideEffect() {
    calls.sideEffect++;
    return 'done';
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('required')
  @HttpCode(200)
  required() {
    calls.required++;
    return 'done';
  }
}

describe.each(ADAPTERS)('client gone while the mount waits for the lock, on %s', (adapter: AdapterName) => {
  it('the route does not run for it (as on Express), and nothing throws a TypeError', async () => {
    calls.sideEffect = 0;
    calls.required = 0;
    const moduleRef = await Test.createTestingModule({
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), cookie: { name: 'sid' } })],
      controllers: [Ctl],
    }).compile();
    const app: INestApplication =
      adapter === 'express'
        ? moduleRef.createNestApplication({ logger: false })
        : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    const errors: unknown[] = [];
    app.useLogger({ log() {}, warn() {}, debug() {}, verbose() {}, error: (...args: unknown[]) => errors.push(args) });
    await mountSessionState(app);
    await app.init();
    if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    try {
      const cookie = sessionCookie((await request(app.getHttpServer()).post('/slow-write').expect(200)).headers)!;
      const holder = request(app.getHttpServer()).post('/slow-write').set('Cookie', cookie);
      const holding = holder.then((r) => r.status);
      await new Promise((r) => setTimeout(r, 100));
      await Promise.all([
        request(app.getHttpServer())
          .post('/side-effect')
          .set('Cookie', cookie)
          .timeout(100)
          .catch(() => 'aborted'),
        request(app.getHttpServer())
          .post('/required')
          .set('Cookie', cookie)
          .timeout(100)
          .catch(() => 'aborted'),
      ]);
      expect(await holding).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect({ calls, typeErrors: errors.map((e) => String((e as unknown[])[0])).filter((e) => e.includes('TypeError')) }).toEqual({
        calls: { sideEffect: 0, required: 0 },
        typeErrors: [],
      });
    } finally {
      await app.close();
    }
  });
});
