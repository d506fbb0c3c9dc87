/**
 * A `@Res()` handler (its answer held for the session) whose lock was broken as stale
 * while it ran: its own answer must not go out as a 2xx; the client gets the 409 in its place, and
 * the write acknowledged meanwhile stands. Express and Fastify.
 */
import { Controller, Module, Post, Query, Res } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, InMemorySessionStateStore, Session, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

type Reply = { status(code: number): { send(body: unknown): void } };

@Controller('r')
class RawController {
  constructor(private readonly gates: Gates) {}

  @Post('inc')
  async inc(@Session() s: HttpSessionState, @Res() res: Reply, @Query('gate') gate?: string) {
    const n = s.get<number>('n') ?? 0;
    if (gate) await this.gates.pass(gate);
    s.set('n', n + 1);
    res.status(200).send({ n: n + 1 });
  }
}

describe.each(ADAPTERS)('stale @Res() handler over %s', (adapter) => {
  it('its held 200 is replaced by a 409; the write that broke its lock stands; nothing left', async () => {
    const gates = new Gates();
    const store = new InMemorySessionStateStore();
    @Module({
      imports: [SessionStateModule.forRoot({ store, executionTimeout: 0.2 })],
      controllers: [RawController],
      providers: [{ provide: Gates, useValue: gates }],
    })
    class M {}
    const app = await createTestApp(adapter, { imports: [M] });
    try {
      const http = app.getHttpServer();
      const cookie = sessionCookie((await request(http).post('/r/inc').expect(200)).headers)!;
      const stuck = request(http)
        .post('/r/inc?gate=stuck')
        .set('Cookie', cookie)
        .then((r) => r);
      await gates.arrived('stuck');
      await request(http).post('/r/inc').set('Cookie', cookie).expect(200, { n: 2 });
      gates.open('stuck');
      expect((await stuck).status).toBe(409);
      await request(http).post('/r/inc').set('Cookie', cookie).expect(200, { n: 3 });
      const lifecycle = app.get(SessionStateLifecycle);
      expect({ leases: lifecycle.activeLeases, entries: lifecycle.locks.size }).toEqual({ leases: 0, entries: 0 });
    } finally {
      gates.openAll();
      await app.close();
    }
  });
});
