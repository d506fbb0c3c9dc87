/**
 * (Review R13) a login's 408 held by src/nest/complete-on-settle.ts carries the session cookie once (not twice), keeps
 * another cookie the handler set, and passes through a middleware that wraps the response's output
 * (on-headers, as compression/morgan use: held-answer.ts's own-hooks path), whose listener runs once.
 */
import { Controller, HttpCode, Post, Res, type INestApplication } from '@nestjs/common';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { timedOutDuringCompletion } from '../support/timed-out-request.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

@Controller('wrapped')
class WrappedLoginController {
  @Post('login')
  @HttpCode(200)
  login(@Session() s: HttpSessionState, @Res({ passthrough: true }) res: { header(n: string, v: string): void }) {
    s.regenerateId();
    s.set('user', 'ann');
    res.header('set-cookie', 'remember=1; Path=/');
    return { ok: true };
  }

  @Post('plain-login')
  @HttpCode(200)
  plainLogin(@Session() s: HttpSessionState) {
    s.regenerateId();
    s.set('user', 'ann');
    return { ok: true };
  }
}

const setCookies = (headers: Record<string, unknown>): string[] => {
  const raw = headers['set-cookie'];
  return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as string[];
};

const cases: [AdapterName, boolean][] = [...ADAPTERS.map((a): [AdapterName, boolean] => [a, false]), ['express', true]];

describe.each(cases)('a login held by an outer timeout (%s, on-headers middleware: %s)', (adapter, wrapped) => {
  let store: UnansweredRemovalStore;
  let gates: Gates;
  let app: INestApplication;
  let listenerCalls = 0;
  const http = () => request(app.getHttpServer());

  beforeEach(async () => {
    listenerCalls = 0;
    gates = new Gates();
    store = new UnansweredRemovalStore();
    store.gates = gates;
    app = await createTestApp(
      adapter,
      {
        imports: [SessionStateModule.forRoot({ store })],
        controllers: [SessionTestController, WrappedLoginController],
        providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
      },
      (a) => {
        if (!wrapped) return;
        const onHeaders = createRequire(import.meta.url)('on-headers') as (res: object, listener: (this: ServerResponse) => void) => void;
        a.use((req: { url: string }, res: ServerResponse, next: () => void) => {
          if (req.url.startsWith('/wrapped')) onHeaders(res, () => listenerCalls++);
          next();
        });
      },
    );
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  it.each(['login', 'plain-login'])('/wrapped/%s: 408 with one session cookie (the new one), other cookies kept', async (route) => {
    const cookie = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    store.slow = true;
    const res = await timedOutDuringCompletion(app, gates, `/wrapped/${route}`, cookie);
    const sids = setCookies(res.headers).filter((c) => c.startsWith('sid='));
    expect({ status: res.status, sids: sids.length, remember: setCookies(res.headers).filter((c) => c.startsWith('remember=')).length }).toEqual({
      status: 408,
      sids: 1,
      remember: route === 'login' ? 1 : 0,
    });
    expect(sids[0]!.split(';')[0]).not.toBe(cookie);
    await http().get('/count').set('Cookie', sids[0]!.split(';')[0]!).expect(200, { count: 1 });
    if (wrapped) expect(listenerCalls).toBe(1);
  });
});
