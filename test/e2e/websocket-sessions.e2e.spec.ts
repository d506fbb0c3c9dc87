import { Logger, type INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import WebSocket from 'ws';
import { SessionStateModule, type SessionStateModuleOptions } from '../../src/index.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { countingStore, type StoreCallCounter } from '../support/counting-store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

interface WsApp {
  app: INestApplication;
  url: string;
  counter: StoreCallCounter;
}

async function startWsApp(adapter: AdapterName, ws: 'socket.io' | 'ws', options: SessionStateModuleOptions = {}): Promise<WsApp> {
  const { store, counter } = countingStore(options.store ?? new InMemorySessionStateStore());
  const app = await createTestApp(
    adapter,
    {
      imports: [SessionStateModule.forRoot({ ...options, store })],
      controllers: [SessionTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, CounterGateway],
    },
    (app) => app.useWebSocketAdapter(ws === 'ws' ? new WsAdapter(app) : new IoAdapter(app)),
  );
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url, counter };
}

/** A socket.io client connected with `cookie`, and a call that resolves with the handler's answer or its exception. */
async function ioClient(url: string, cookie?: string, headers: Record<string, string> = {}) {
  const socket: Socket = io(url, { transports: ['websocket'], extraHeaders: { ...(cookie ? { Cookie: cookie } : {}), ...headers }, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const exceptions: { message: string }[] = [];
  socket.on('exception', (e: { message: string }) => exceptions.push(e));
  return {
    socket,
    exceptions,
    call: (event: string, data?: unknown) => socket.timeout(5000).emitWithAck(event, data ?? {}),
    /** Resolves with the next exception the server sends. */
    nextException: () => new Promise<{ message: string; error?: string }>((resolve) => socket.once('exception', resolve)),
  };
}

/** A `ws` client connected with `cookie`: `call` sends `{ event, data }` and resolves with the JSON answer. */
async function wsClient(url: string, cookie?: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url.replace('http', 'ws'), { headers: { ...(cookie ? { Cookie: cookie } : {}), ...headers } });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const answers: ((value: unknown) => void)[] = [];
  socket.on('message', (data) => answers.shift()?.(JSON.parse((data as Buffer).toString())));
  return {
    socket,
    call: (event: string, data: unknown = {}) =>
      new Promise((resolve) => {
        answers.push(resolve);
        socket.send(JSON.stringify({ event, data }));
      }),
  };
}

describe.each(ADAPTERS)('WebSocket gateway sessions over %s', (adapter) => {
  const apps: WsApp[] = [];
  const closers: (() => void)[] = [];
  const start = async (...args: Parameters<typeof startWsApp> extends [unknown, ...infer R] ? R : never) => {
    const app = await startWsApp(adapter, ...args);
    apps.push(app);
    return app;
  };
  afterEach(async () => {
    closers.splice(0).forEach((close) => close());
    await Promise.all(apps.splice(0).map((a) => a.app.close()));
  });
  const seed = async (app: WsApp) => sessionCookie((await request(app.url).post('/seed').expect(200)).headers)!;

  it('socket.io: 50 concurrent increments, half by HTTP and half by messages of one session, end at exactly 50', async () => {
    const a = await start('socket.io');
    const cookie = await seed(a);
    const client = await ioClient(a.url, cookie);
    closers.push(() => client.socket.close());
    const sends = Array.from({ length: 50 }, (_, i) =>
      i % 2
        ? client.call('increment')
        : request(a.url)
            .post('/count')
            .set('Cookie', cookie)
            .expect(200)
            .then((r) => r.body.count),
    );
    const counts = (await Promise.all(sends)) as number[];
    expect(counts.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await client.call('counter')).toBe(50);
    await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 50 });
  });

  it('socket.io: a message costs what an HTTP request does (read-write: lock + save; read-only: one read; session-less: nothing)', async () => {
    const a = await start('socket.io');
    const cookie = await seed(a);
    const client = await ioClient(a.url, cookie);
    closers.push(() => client.socket.close());
    a.counter.reset();
    expect(await client.call('increment')).toBe(1);
    expect(a.counter.calls).toEqual({ getItemExclusive: 1, setAndReleaseItemExclusive: 1 });
    a.counter.reset();
    expect(await client.call('counter')).toBe(1);
    expect(a.counter.calls).toEqual({ getItem: 1 });
    a.counter.reset();
    expect(await client.call('echo', { x: 1 })).toEqual({ x: 1 });
    expect(a.counter.total()).toBe(0);
  });

  it('socket.io: without a session cookie a message reads an empty session, and a write is a clear error that stores nothing', async () => {
    const a = await start('socket.io');
    const client = await ioClient(a.url);
    closers.push(() => client.socket.close());
    expect(await client.call('counter')).toBe(0);
    a.counter.reset();
    const exception = client.nextException();
    client.socket.emit('increment', {});
    expect((await exception).message).toMatch(/no session to write to.*a message cannot set one/);
    expect(a.counter.total()).toBe(0);
  });

  it('socket.io: a store whose error names the session id: the message gets a clear exception, no log line shows the id', async () => {
    class KeyNamingStore extends InMemorySessionStateStore {
      failing = false;
      override async getItemExclusive(id: string) {
        if (this.failing) throw new Error(`getItemExclusive failed for key "sess:${id}" (connection reset)`);
        return super.getItemExclusive(id);
      }
    }
    const store = new KeyNamingStore();
    const a = await start('socket.io', { store });
    const cookie = await seed(a);
    const client = await ioClient(a.url, cookie);
    closers.push(() => client.socket.close());
    const levels = (['log', 'error', 'warn', 'debug', 'verbose', 'fatal'] as const).map((level) =>
      vi.spyOn(Logger.prototype, level).mockImplementation(() => {}),
    );
    try {
      store.failing = true;
      const exception = client.nextException();
      client.socket.emit('increment', {});
      expect((await exception).message).toBe('Session state failed; the changes of this request were not saved.');
      const lines = levels.flatMap((spy) =>
        spy.mock.calls.map((args) => args.map((a) => (a instanceof Error ? `${a.message} ${a.stack}` : String(a))).join(' ')),
      );
      expect(lines.some((line) => line.includes('connection reset'))).toBe(true);
      for (const line of lines) expect(line).not.toContain(cookie.split('=')[1]);
    } finally {
      vi.restoreAllMocks();
    }
    store.failing = false;
    expect(await client.call('increment')).toBe(1);
  });

  it('socket.io: signed cookies are verified as on HTTP (a tampered one is no session)', async () => {
    const a = await start('socket.io', { secret: 'a'.repeat(32) });
    const cookie = await seed(a);
    const good = await ioClient(a.url, cookie);
    closers.push(() => good.socket.close());
    expect(await good.call('increment')).toBe(1);
    const bad = await ioClient(a.url, `${cookie.slice(0, -2)}xx`);
    closers.push(() => bad.socket.close());
    expect(await bad.call('counter')).toBe(0);
  });

  it.each(['socket.io', 'ws'] as const)(
    '%s with idHeader: the id header of the handshake (a native client can set it) names the session, verified as on HTTP; it wins over the cookie',
    async (ws) => {
      const a = await start(ws, { idHeader: 'x-session-id', secret: 'a'.repeat(32) });
      const value = (await request(a.url).post('/count').set('x-session-id', '').expect(200)).headers['x-session-id'] as string;
      const cookie = await seed(a); // another session, named by the cookie
      const connect = ws === 'ws' ? wsClient : ioClient;
      const client = await connect(a.url, cookie, { 'x-session-id': value });
      closers.push(() => client.socket.close());
      expect(await client.call('increment')).toBe(2);
      await request(a.url).get('/count').set('x-session-id', value).expect(200, { count: 2 });
      await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
      const forged = await connect(a.url, undefined, { 'x-session-id': `${value.slice(0, -2)}xx` });
      closers.push(() => forged.socket.close());
      expect(await forged.call('counter')).toBe(0);
    },
  );

  it('ws (@nestjs/platform-ws): the handshake cookie names the session; messages and HTTP requests share it', async () => {
    const a = await start('ws');
    const cookie = await seed(a);
    const client = await wsClient(a.url, cookie);
    closers.push(() => client.socket.close());
    const sends = Array.from({ length: 20 }, (_, i) =>
      i % 2 ? client.call('increment') : request(a.url).post('/count').set('Cookie', cookie).expect(200),
    );
    await Promise.all(sends);
    expect(await client.call('counter')).toBe(20);
  });
});
