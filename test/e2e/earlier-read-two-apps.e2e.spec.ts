import { Controller, HttpCode, Post } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HttpSessionState, mountSessionState, Session, SessionState, SessionStateBehavior, SessionStateModule } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { sessionCookie } from '../support/test-app.js';
import { innerExpressApp } from './fixtures/inner-express-app.js';

/*
 * The mount's earlier read belongs to the application that read (found by review R6: it was kept on
 * the request for every application of the process). Two Nest applications in one process, the inner
 * one's Express app mounted in the outer's (the layout test/e2e/held-answer-edge-cases uses): the outer
 * one mounts `mountSessionState`, the inner one binds sessions by its interceptor only, each with its
 * own store, both with the default cookie. A browser signed in on the outer app (its cookie names a
 * session of the outer store) was refused 409 by every inner route that writes, on every retry: the
 * inner lifecycle took the outer mount's read as its own. It gets an inner session (a shared cookie
 * name is a conflict anyway, but never a 409 that retries cannot end).
 */

@Controller('plain')
class PlainController {
  @Post('count')
  @HttpCode(200)
  @SessionState(SessionStateBehavior.Required)
  count(@Session() session: HttpSessionState) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    return { n: session.get<number>('n') };
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('the earlier read of one application, in a process with two', () => {
  it("an inner application's route is not refused (409) because the outer application's mount read its own session", async () => {
    const { express: innerExpress, app: inner } = await innerExpressApp([PlainController]);
    apps.push(inner);
    const outerRef = await Test.createTestingModule({
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), executionTimeout: 2 })],
      controllers: [PlainController],
    }).compile();
    const outer = outerRef.createNestApplication({ logger: false });
    await mountSessionState(outer);
    outer.use('/inner', innerExpress);
    await outer.init();
    apps.push(outer);
    const http = outer.getHttpServer();

    const signedIn = await request(http).post('/plain/count').expect(200, { n: 1 });
    const cookie = sessionCookie(signedIn.headers)!;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await request(http).post('/inner/plain/count').set('Cookie', cookie)).status);
    expect(statuses).toEqual([200, 200, 200]);
  });
});
