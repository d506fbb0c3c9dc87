/**
 * A client that leaves while its request waits for the session's lock under the mount: its route
 * never runs, it takes no lock (or gives back the one it got), and the session's next request gets
 * the session at once, on Express and on Fastify (where the onRequest hook hijacks the reply).
 * Ordered by events only: the holder is parked on a gate, each client leaves once its request is
 * seen waiting, and the holder lets the lock go only after the server saw every client leave.
 */
import { Controller, HttpCode, Injectable, Post, Query, type CanActivate, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
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
import type { SessionStateStore } from '../../src/store/session-state-store.js';
import { Gates } from '../support/gates.js';
import { leavingClient, listening } from '../support/leaving-client.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

/** The routes a client leaves: one without the session, a Required one, a ReadOnly one. */
const LEAVING = ['/side-effect', '/required', '/read-only'] as const;
const calls: Record<string, number> = {};

@Controller()
class Ctl {
  constructor(private readonly gates: Gates) {}

  @Post('slow-write')
  @HttpCode(200)
  async slowWrite(@Session() session: HttpSessionState, @Query('gate') gate?: string) {
    session.set('n', 1);
    if (gate) await this.gates.pass(gate); // holds the session's lock until the test opens the gate
    return 'ok';
  }

  /** A route that does not use the session. */
  @Post('side-effect')
  @HttpCode(200)
  sideEffect() {
    calls['/side-effect'] = (calls['/side-effect'] ?? 0) + 1;
    return 'done';
  }

  @SessionState(SessionStateBehavior.Required)
  @Post('required')
  @HttpCode(200)
  required() {
    calls['/required'] = (calls['/required'] ?? 0) + 1;
    return 'done';
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Post('read-only')
  @HttpCode(200)
  readOnly() {
    calls['/read-only'] = (calls['/read-only'] ?? 0) + 1;
    return 'done';
  }
}

/** Parks a request before the mount's guard (`?park=name`), so that another request can take the lock after the mount's read. */
@Injectable()
class ParkingGuard implements CanActivate {
  constructor(private readonly gates: Gates) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const park = context.switchToHttp().getRequest<{ query: Record<string, string | undefined> }>().query.park;
    if (park) await this.gates.pass(park);
    return true;
  }
}

/**
 * A store whose `getItem` calls wait while held (`hold()` until `open()`): the read a woken waiter
 * makes stays under way while its client leaves. The real in-memory store answers each call.
 */
function holdableStore(): { store: SessionStateStore; holdReads(): HeldReads } {
  const inner = new InMemorySessionStateStore();
  let held: { opened: Promise<void>; arrivals: number; onArrival(): void } | undefined;
  const getItem = inner.getItem.bind(inner);
  const store = new Proxy(inner, {
    get: (target, property) =>
      property === 'getItem'
        ? async (id: string) => {
            if (held) {
              held.arrivals++;
              held.onArrival();
              await held.opened;
            }
            return getItem(id);
          }
        : (Reflect.get(target, property) as unknown),
  });
  return {
    store,
    holdReads() {
      let open = () => {};
      const h = (held = { opened: new Promise<void>((r) => (open = r)), arrivals: 0, onArrival() {} });
      return {
        arrived: (count) => new Promise<void>((resolve) => ((h.onArrival = () => h.arrivals >= count && resolve()), h.onArrival())),
        open: () => ((held = undefined), open()),
      };
    },
  };
}

interface HeldReads {
  /** Resolves once `count` reads wait. */
  arrived(count: number): Promise<void>;
  /** Lets the waiting reads (and every later one) through. */
  open(): void;
}

interface MountedApp {
  app: INestApplication;
  gates: Gates;
  store: SessionStateStore;
  holdReads: ReturnType<typeof holdableStore>['holdReads'];
  lifecycle: SessionStateLifecycle;
  errors: string[];
  /** A request of the session over its own connection, which the test leaves. */
  send(path: string, cookie: string): ReturnType<typeof leavingClient>;
}

async function mountedApp(adapter: AdapterName): Promise<MountedApp> {
  const gates = new Gates(); // one per app: a gate opened in one test stays open
  const { store, holdReads } = holdableStore();
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store, cookie: { name: 'sid' } })],
    controllers: [Ctl],
    providers: [{ provide: Gates, useValue: gates }, ParkingGuard],
  }).compile();
  const app: INestApplication =
    adapter === 'express'
      ? moduleRef.createNestApplication({ logger: false })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  const errors: string[] = [];
  app.useLogger({ log() {}, warn() {}, debug() {}, verbose() {}, error: (...args: unknown[]) => errors.push(args.map(String).join(' ')) });
  app.useGlobalGuards(app.get(ParkingGuard)); // before the mount's guard
  await mountSessionState(app);
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  const server = app.getHttpServer() as Server;
  await listening(server);
  return {
    app,
    gates,
    store,
    holdReads,
    lifecycle: app.get(SessionStateLifecycle),
    errors,
    send: (path, cookie) => leavingClient(server, { path, cookie }),
  };
}

describe.each(ADAPTERS)('a client gone while its request waits for the session lock under the mount, on %s', (adapter: AdapterName) => {
  let t: MountedApp;
  let cookie: string;
  let id: string;

  beforeEach(async () => {
    for (const path of LEAVING) calls[path] = 0;
    t = await mountedApp(adapter);
    cookie = sessionCookie((await request(t.app.getHttpServer()).post('/slow-write').expect(200)).headers)!;
    id = cookie.slice('sid='.length);
  });

  afterEach(async () => {
    t.gates.openAll();
    await t.app.close();
  });

  /** The holder: a request of the session that keeps its lock, parked at the gate `hold`. */
  async function holdTheLock(): Promise<{ answered: Promise<number> }> {
    const holding = request(t.app.getHttpServer())
      .post('/slow-write?gate=hold')
      .set('Cookie', cookie)
      .then((r) => r.status);
    await t.gates.arrived('hold');
    return { answered: holding };
  }

  /** Once the holder is done: a request queued after those that left was served at once, and nothing is held or waits. */
  async function expectNothingLeftBehind(holding: Promise<number>): Promise<void> {
    expect(await holding).toBe(200);
    // The lock is a queue: once this later request is answered, those before it were decided.
    await request(t.app.getHttpServer()).post('/slow-write').set('Cookie', cookie).expect(200);
    expect({
      calls,
      stored: (await t.store.getItem(id)).kind,
      waiting: t.lifecycle.locks.waiting(id),
      queues: t.lifecycle.locks.size,
      leases: t.lifecycle.activeLeases,
      errors: t.errors,
    }).toEqual({
      calls: { '/side-effect': 0, '/required': 0, '/read-only': 0 },
      stored: 'loaded', // not 'locked'
      waiting: 0,
      queues: 0,
      leases: 0,
      errors: [],
    });
  }

  it("while the mount's read waits: no route runs (Required, ReadOnly, none), nothing is left behind", async () => {
    const { answered: holding } = await holdTheLock();
    const clients = LEAVING.map((path) => t.send(path, cookie));
    await vi.waitFor(() => expect(t.lifecycle.locks.waiting(id)).toBe(LEAVING.length));
    for (const client of clients) client.leave();
    await Promise.all(clients.map((client) => client.closedOnServer)); // the server saw each leave before the lock is let go
    t.gates.open('hold');
    await expectNothingLeftBehind(holding);
  });

  it('after the wait, while the woken read is under way: no route runs, nothing is left behind', async () => {
    const { answered: holding } = await holdTheLock();
    const clients = LEAVING.map((path) => t.send(path, cookie));
    await vi.waitFor(() => expect(t.lifecycle.locks.waiting(id)).toBe(LEAVING.length));
    // The holder lets the lock go; each woken request's read stays under way while its client leaves.
    const reads = t.holdReads();
    t.gates.open('hold');
    expect(await holding).toBe(200);
    await reads.arrived(LEAVING.length);
    for (const client of clients) client.leave();
    await Promise.all(clients.map((client) => client.closedOnServer));
    reads.open();
    await expectNothingLeftBehind(Promise.resolve(200));
  });

  it("while the guard of a Required route waits for the lock taken after the mount's read: the route does not run, nothing is left behind", async () => {
    // The mount reads the session unlocked; the request is parked before the guard that locks it.
    const client = t.send('/required?park=before-guard', cookie);
    await t.gates.arrived('before-guard');
    const { answered: holding } = await holdTheLock();
    t.gates.open('before-guard');
    await vi.waitFor(() => expect(t.lifecycle.locks.waiting(id)).toBe(1));
    client.leave();
    await client.closedOnServer;
    t.gates.open('hold');
    await expectNothingLeftBehind(holding);
  });
});
