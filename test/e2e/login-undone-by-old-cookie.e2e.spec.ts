/**
 * A login is never undone by a request sent with the old cookie that reaches the session after the
 * login finished (another tab, a fetch in flight before the login's answer reached the browser): the
 * store keeps a marker under the moved session's old id (`SessionStateAbsent.moved`), and a
 * read-write request that finds it is refused (409, Retry-After) instead of starting a new session
 * whose Set-Cookie would replace the login's. A read-only one reads an empty session, sets no cookie.
 * Only a move leaves a marker (not abandon, not a logout), and only for `MOVED_MARKER_MS`.
 * Real concurrent requests on Express and Fastify, ordered by gates: the old-cookie request is parked
 * in a guard (before its session is locked) while the login runs to its end.
 */
import { Controller, Get, HttpCode, Injectable, Post, Query, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  MOVED_MARKER_MS,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateGuard,
  SessionStateModule,
} from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { idOf } from './session-app.js';

/** Parks a request with `?gate=` before the session's lock is taken (guards run before the interceptor). */
@Injectable()
class ParkGuard implements CanActivate {
  constructor(private readonly gates: Gates) {}
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const gate = context.switchToHttp().getRequest<{ query: Record<string, string | undefined> }>().query.gate;
    if (gate) await this.gates.pass(gate);
    return true;
  }
}

@Controller()
@UseGuards(ParkGuard)
class ShopController {
  @Post('add')
  @HttpCode(200)
  add(@Session() s: HttpSessionState, @Query('item') item: string) {
    s.set('cart', [...(s.get<string[]>('cart') ?? []), item]);
    return { cart: s.get('cart') };
  }

  @Post('login')
  @HttpCode(200)
  login(@Session() s: HttpSessionState) {
    s.regenerateId();
    s.set('user', 'ada');
    return 'ok';
  }

  /** A logout as passport's: the session regenerated to an empty one. */
  @Post('logout')
  @HttpCode(200)
  logout(@Session() s: HttpSessionState) {
    s.regenerateId();
    s.clear();
    return 'ok';
  }

  @Post('abandon')
  @HttpCode(200)
  abandon(@Session() s: HttpSessionState) {
    s.abandon();
    return 'ok';
  }

  @Get('me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Session() s: HttpSessionState) {
    return { user: s.get<string>('user') ?? null, cart: s.get<string[]>('cart') ?? [] };
  }
}

/** The same add on the guard binding (the session taken by a guard, its answer held until saved). */
@Controller('guarded')
@UseGuards(SessionStateGuard)
class GuardedShopController {
  @Post('add')
  @HttpCode(200)
  add(@Session() s: HttpSessionState, @Query('item') item: string) {
    s.set('cart', [...(s.get<string[]>('cart') ?? []), item]);
    return { cart: s.get('cart') };
  }
}

describe.each(ADAPTERS)('a login is not undone by a request with the old cookie (%s)', (adapter: AdapterName) => {
  let now = Date.now();
  let store: InMemorySessionStateStore;
  let app: INestApplication;
  const gates = new Gates();
  const http = () => request(app.getHttpServer());

  beforeEach(async () => {
    now = Date.now();
    store = new InMemorySessionStateStore({ clock: () => now });
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })],
      controllers: [ShopController, GuardedShopController],
      providers: [{ provide: Gates, useValue: gates }, ParkGuard],
    });
  });
  afterEach(async () => {
    gates.openAll();
    await app.close();
  });

  /** An anonymous visitor with a cart: its cookie. */
  async function visitor(): Promise<string> {
    const answer = await http().post('/add?item=book').expect(200);
    return sessionCookie(answer.headers)!;
  }

  it('a cart add sent before the login answered, locking after it: 409 with Retry-After, no cookie; the login and the cart stand', async () => {
    const anon = await visitor();
    const gate = `${adapter}-late-add`;
    const late = http()
      .post(`/add?item=pen&gate=${gate}`)
      .set('Cookie', anon)
      .then((r) => r);
    await gates.arrived(gate); // in the server, its session not yet locked
    const login = await http().post('/login').set('Cookie', anon).expect(200);
    const loggedIn = sessionCookie(login.headers)!;
    gates.open(gate);
    const res = await late;
    expect(res.status).toBe(409);
    expect(res.headers['retry-after']).toBe('1');
    expect(sessionCookie(res.headers)).toBeUndefined();
    // The client retries with the login's cookie: its add lands in the signed-in session.
    await http().post('/add?item=pen').set('Cookie', loggedIn).expect(200);
    expect((await http().get('/me').set('Cookie', loggedIn).expect(200)).body).toEqual({ user: 'ada', cart: ['book', 'pen'] });
  });

  it('a cart add arriving after the login answered (in flight): 409, no cookie', async () => {
    const anon = await visitor();
    const login = await http().post('/login').set('Cookie', anon).expect(200);
    const [late, again] = await Promise.all([http().post('/add?item=pen').set('Cookie', anon), http().post('/add?item=cup').set('Cookie', anon)]);
    for (const res of [late, again]) {
      expect(res.status).toBe(409);
      expect(sessionCookie(res.headers)).toBeUndefined();
    }
    expect((await store.getItem(idOf(anon))).kind).toBe('absent');
    expect(await store.getItem(idOf(anon))).toEqual({ kind: 'absent', moved: true });
    expect((await http().get('/me').set('Cookie', sessionCookie(login.headers)!).expect(200)).body).toEqual({ user: 'ada', cart: ['book'] });
  });

  it('on the guard binding too: a cart add with the old cookie after the login gets 409, no cookie', async () => {
    const anon = await visitor();
    await http().post('/login').set('Cookie', anon).expect(200);
    const res = await http().post('/guarded/add?item=pen').set('Cookie', anon);
    expect(res.status).toBe(409);
    expect(sessionCookie(res.headers)).toBeUndefined();
  });

  it('a read-only request with the old cookie after the login: 200, an empty session, no Set-Cookie', async () => {
    const anon = await visitor();
    await http().post('/login').set('Cookie', anon).expect(200);
    const res = await http().get('/me').set('Cookie', anon).expect(200);
    expect(res.body).toEqual({ user: null, cart: [] });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('after the marker expires, the old id is an unknown id again: a write starts a new session', async () => {
    const anon = await visitor();
    await http().post('/login').set('Cookie', anon).expect(200);
    now += MOVED_MARKER_MS - 1;
    await http().post('/add?item=pen').set('Cookie', anon).expect(409);
    now += 1;
    const res = await http().post('/add?item=pen').set('Cookie', anon).expect(200);
    expect(res.body).toEqual({ cart: ['pen'] });
    expect(sessionCookie(res.headers)).toBeDefined();
    expect(sessionCookie(res.headers)).not.toBe(anon);
    store.sweep(); // the sweep forgets expired markers
    expect(await store.getItem(idOf(anon))).toEqual({ kind: 'absent' });
  });

  it.each(['logout', 'abandon'])('%s leaves no marker: a write with the old cookie starts a new session, as before', async (path) => {
    const anon = await visitor();
    const loggedIn = sessionCookie((await http().post('/login').set('Cookie', anon).expect(200)).headers)!;
    await http().post(`/${path}`).set('Cookie', loggedIn).expect(200);
    expect(await store.getItem(idOf(loggedIn))).toEqual({ kind: 'absent' });
    const res = await http().post('/add?item=pen').set('Cookie', loggedIn).expect(200);
    expect(res.body).toEqual({ cart: ['pen'] });
    expect(sessionCookie(res.headers)).toBeDefined();
  });
});
