import { Controller, Get, Post, Res, type INestApplication } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import request from 'supertest';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';

/* Fastify: a held answer through the per-response hooked prototype, with reply.hijack(). */

@Controller('hj')
class HijackController {
  @Post()
  hijacked(@Session() session: HttpSessionState, @Res() reply: FastifyReply) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    reply.hijack();
    reply.raw.writeHead(201, { 'content-type': 'text/plain' });
    reply.raw.write('n=');
    reply.raw.end(String(session.get<number>('n')));
  }

  @Get()
  @SessionState(SessionStateBehavior.ReadOnly)
  read(@Session() session: HttpSessionState) {
    return { n: session.get<number>('n') ?? 0 };
  }
}

describe('Fastify reply.hijack() with raw writes', () => {
  it('the held raw answer goes out with the session cookie, saved first', async () => {
    const app: INestApplication = await createTestApp('fastify', {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
      controllers: [HijackController],
    });
    try {
      const http = app.getHttpServer();
      const first = await request(http).post('/hj').expect(201, 'n=1');
      const cookie = sessionCookie(first.headers)!;
      expect(cookie).toBeDefined();
      await request(http).post('/hj').set('Cookie', cookie).expect(201, 'n=2');
      await request(http).get('/hj').set('Cookie', cookie).expect(200, { n: 2 });
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    } finally {
      await app.close();
    }
  });
});
