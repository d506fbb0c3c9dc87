/**
 * A login's answer is held until its completion ended (src/nest/complete-on-settle.ts; review R13). A login's
 * answer when no timeout fires must be what it was: status, one session Set-Cookie, other cookies,
 * Location, a stream's body, 204, HEAD, an exception filter's answer; and with an outer timeout, a
 * client that leaves, a completion that fails. Express and Fastify, the default binding.
 */
import {
  BadRequestException,
  Controller,
  Get,
  Head,
  Header,
  HttpCode,
  Post,
  Redirect,
  Res,
  StreamableFile,
  type INestApplication,
} from '@nestjs/common';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';
import { withOuterTimeout } from '../support/timeout.interceptor.js';
import { UnansweredRemovalStore } from '../support/unanswered-removal-store.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

const login = (s: HttpSessionState) => (s.regenerateId(), s.set('user', 'ann'));

@Controller('shapes')
class LoginShapesController {
  @Post('json')
  @HttpCode(200)
  json(@Session() s: HttpSessionState) {
    login(s);
    return { ok: true };
  }

  @Post('other-cookie')
  @HttpCode(200)
  otherCookie(
    @Session() s: HttpSessionState,
    @Res({ passthrough: true }) res: { cookie?: unknown; setCookie?: unknown; header(n: string, v: string): void },
  ) {
    login(s);
    res.header('set-cookie', 'remember=1; Path=/');
    return { ok: true };
  }

  @Post('redirect')
  @Redirect('/count', 302)
  redirect(@Session() s: HttpSessionState) {
    login(s);
  }

  @Post('stream')
  @HttpCode(200)
  @Header('x-kind', 'file')
  stream(@Session() s: HttpSessionState) {
    login(s);
    return new StreamableFile(Readable.from([Buffer.from('a'.repeat(70_000)), Buffer.from('b'.repeat(70_000))]));
  }

  @Post('no-content')
  @HttpCode(204)
  noContent(@Session() s: HttpSessionState) {
    login(s);
  }

  @Head('head')
  head(@Session() s: HttpSessionState) {
    login(s);
    return { ok: true };
  }

  @Post('throws')
  throws(@Session() s: HttpSessionState) {
    login(s);
    throw new BadRequestException('after login');
  }

  @Get('user')
  user(@Session() s: HttpSessionState) {
    return { user: s.get<string>('user') ?? null };
  }
}

function setCookies(headers: Record<string, unknown>): string[] {
  const raw = headers['set-cookie'];
  return (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as string[];
}

describe.each(ADAPTERS)('a login answer without a timeout (%s)', (adapter) => {
  describe.each<false | 'client-errors'>([false, 'client-errors'])('saveOnError %s', (saveOnError) => {
    let app: INestApplication;
    let store: UnansweredRemovalStore;
    const http = () => request(app.getHttpServer());
    beforeEach(async () => {
      store = new UnansweredRemovalStore();
      app = await createTestApp(adapter, {
        imports: [SessionStateModule.forRoot({ store, saveOnError })],
        controllers: [LoginShapesController, SessionTestController],
        providers: [{ provide: Gates, useValue: new Gates() }],
      });
    });
    afterEach(() => app.close());

    const withSession = async () => sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    const expectLoggedIn = async (headers: Record<string, unknown>, old: string) => {
      const sids = setCookies(headers).filter((c) => c.startsWith('sid='));
      expect(sids).toHaveLength(1);
      const next = sids[0]!.split(';')[0]!;
      expect(next).not.toBe(old);
      await http().get('/shapes/user').set('Cookie', next).expect(200, { user: 'ann' });
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    };

    it('JSON 200: one session cookie, the body', async () => {
      const old = await withSession();
      const res = await http().post('/shapes/json').set('Cookie', old).expect(200, { ok: true });
      await expectLoggedIn(res.headers, old);
    });

    it('another cookie the handler set is kept', async () => {
      const old = await withSession();
      const res = await http().post('/shapes/other-cookie').set('Cookie', old).expect(200, { ok: true });
      expect(setCookies(res.headers).filter((c) => c.startsWith('remember=1'))).toHaveLength(1);
      await expectLoggedIn(res.headers, old);
    });

    it('@Redirect(): 302 with its Location', async () => {
      const old = await withSession();
      const res = await http().post('/shapes/redirect').set('Cookie', old).expect(302);
      expect(res.headers.location).toBe('/count');
      await expectLoggedIn(res.headers, old);
    });

    it('StreamableFile: the whole body, its header', async () => {
      const old = await withSession();
      const res = await http()
        .post('/shapes/stream')
        .set('Cookie', old)
        .buffer(true)
        .parse((r, cb) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => cb(null, Buffer.concat(chunks).toString()));
        })
        .expect(200);
      expect((res.body as string).length).toBe(140_000);
      expect(res.headers['x-kind']).toBe('file');
      await expectLoggedIn(res.headers, old);
    });

    it('204', async () => {
      const old = await withSession();
      const res = await http().post('/shapes/no-content').set('Cookie', old).expect(204);
      await expectLoggedIn(res.headers, old);
    });

    it('HEAD', async () => {
      const old = await withSession();
      const res = await http().head('/shapes/head').set('Cookie', old).expect(200);
      await expectLoggedIn(res.headers, old);
    });

    it('a handler that throws after the login: the filter answers 400 (the cookie only when its changes are kept)', async () => {
      const old = await withSession();
      const res = await http().post('/shapes/throws').set('Cookie', old).expect(400);
      expect((res.body as { message: string }).message).toBe('after login');
      if (saveOnError) await expectLoggedIn(res.headers, old);
      else {
        expect(setCookies(res.headers)).toEqual([]);
        await http().get('/count').set('Cookie', old).expect(200, { count: 1 });
      }
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    });

    it('a login whose removal fails (the move undone): 503, no cookie, the old session kept', async () => {
      const old = await withSession();
      store.fail = true;
      const res = await http().post('/shapes/json').set('Cookie', old).expect(503);
      expect(setCookies(res.headers)).toEqual([]);
      await http().get('/count').set('Cookie', old).expect(200, { count: 1 });
      expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    });
  });
});

describe.each(ADAPTERS)('a login answer held by an outer timeout (%s)', (adapter) => {
  let app: INestApplication;
  let store: UnansweredRemovalStore;
  let gates: Gates;
  const http = () => request(app.getHttpServer());
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(async () => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    gates = new Gates();
    store = new UnansweredRemovalStore();
    store.gates = gates;
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [LoginShapesController, SessionTestController],
      providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
    });
    await new Promise<void>((resolve) => app.getHttpServer().listen(0, '127.0.0.1', resolve));
  });
  afterEach(async () => {
    process.off('unhandledRejection', onUnhandled);
    gates.openAll();
    await app.close();
  });

  it('the client leaves while its 408 is held: the completion ends, no lease left, no unhandled rejection; the login landed', async () => {
    const old = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    store.slow = true;
    const { port } = app.getHttpServer().address() as AddressInfo;
    const req = httpRequest({ port, host: '127.0.0.1', method: 'POST', path: '/regenerate', headers: { cookie: old, 'x-timeout-ms': '100' } });
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', () => {});
    req.end();
    await gates.arrived('removal');
    // Another request's 408 (timed from after the login began): the login's timeout fired by then.
    await http().post('/count?gate=tick').set('x-timeout-ms', '150').expect(408);
    gates.open('tick');
    expect(answered).toBe(false); // held
    const closed = new Promise((resolve) => req.on('close', resolve));
    req.destroy();
    await closed;
    gates.open('removal');
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    await http().get('/count').set('Cookie', old).expect(200, { count: 0 });
    expect(unhandled).toEqual([]);
  });
});

describe.each(ADAPTERS)('an outer timeout and a login, more shapes (%s)', (adapter) => {
  let app: INestApplication;
  let store: UnansweredRemovalStore;
  let gates: Gates;
  const http = () => request(app.getHttpServer());
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const start = async (options: { executionTimeout?: number } = {}) => {
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store, ...options })],
      controllers: [LoginShapesController, SessionTestController],
      providers: [{ provide: Gates, useValue: gates }, ...withOuterTimeout.providers],
    });
  };
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    gates = new Gates();
    store = new UnansweredRemovalStore();
    store.gates = gates;
  });
  afterEach(async () => {
    process.off('unhandledRejection', onUnhandled);
    gates.openAll();
    await app.close();
  });

  it('the timeout fires before the handler logs in: 408 without a cookie; the login is discarded, the old session intact, no lease left', async () => {
    await start();
    const old = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    const res = await http().post('/regenerate?gate=late').set('Cookie', old).set('x-timeout-ms', '50');
    expect({ status: res.status, setCookie: res.headers['set-cookie'] ?? null }).toEqual({ status: 408, setCookie: null });
    await gates.arrived('late');
    gates.open('late');
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    await http().get('/count').set('Cookie', old).expect(200, { count: 1 });
    expect(unhandled).toEqual([]);
  });

  it('the login is fenced while its 408 is held (its old lock broken as stale): 409, no cookie; the write that broke it kept', async () => {
    await start({ executionTimeout: 0.2 });
    const old = sessionCookie((await http().post('/count').expect(200, { count: 1 })).headers)!;
    store.slow = true;
    const login = http()
      .post('/regenerate')
      .set('Cookie', old)
      .set('x-timeout-ms', '100')
      .then((r) => r);
    await gates.arrived('removal');
    // Waits for the login's lock until it is stale, breaks it, saves (the login's timeout fired meanwhile).
    await http().post('/count').set('Cookie', old).expect(200, { count: 2 });
    gates.open('removal');
    const res = await login;
    const after = await http()
      .get('/count')
      .set('Cookie', sessionCookie(res.headers) ?? old);
    expect({ status: res.status, setCookie: res.headers['set-cookie'] ?? null, count: after.body.count }).toEqual({
      status: 409,
      setCookie: null,
      count: 2,
    });
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    expect(unhandled).toEqual([]);
  });
});
