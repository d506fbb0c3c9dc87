import { Logger, type INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import WebSocket from 'ws';
import {
  InMemorySessionStateStore,
  SessionStateLockLostError,
  SessionStateModule,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
  type SessionStateStoreData,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { sessionErrorOf } from '../../src/errors/session-error-catalog.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';
import { SavingGateway } from './fixtures/saving.gateway.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

/*
 * A WebSocket message's answers go out only once its session was saved; a save that fails sends the
 * catalog's exception alone, never the handler's "saved" first. (Found by review R4: Nest's socket.io
 * and ws adapters send each value as it comes, and the values came before the save.)
 */

/** A store with a small item limit (a larger save is refused as too large), whose next save can be made to fail. */
class SmallStore extends InMemorySessionStateStore {
  failNextSave: Error | undefined;
  override async setAndReleaseItemExclusive(id: string, item: SessionStateStoreData, lockId: string | null, newItem: boolean): Promise<void> {
    if (item.items.length > 1000) throw new SessionStateTooLargeError(item.items.length, 1000);
    const failure = this.failNextSave;
    this.failNextSave = undefined;
    // A failed save leaves no lock of its own (a lock lost was broken by another request already).
    if (failure) throw (await this.releaseItemExclusive(id, lockId!), failure);
    return super.setAndReleaseItemExclusive(id, item, lockId, newItem);
  }
}

interface App {
  app: INestApplication;
  url: string;
  store: SmallStore;
}

const apps: App[] = [];
const closers: (() => void)[] = [];
afterEach(async () => {
  closers.splice(0).forEach((close) => close());
  await Promise.all(apps.splice(0).map((a) => a.app.close()));
});

async function start(ws: 'socket.io' | 'ws'): Promise<App> {
  const store = new SmallStore();
  const app = await createTestApp(
    'express',
    {
      imports: [SessionStateModule.forRoot({ store })],
      controllers: [SessionTestController],
      providers: [{ provide: Gates, useValue: new Gates() }, SavingGateway],
    },
    (app) => app.useWebSocketAdapter(ws === 'ws' ? new WsAdapter(app) : new IoAdapter(app)),
  );
  await app.listen(0, '127.0.0.1');
  const a = { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1'), store };
  apps.push(a);
  return a;
}

/** What a client receives, in order: `ack:<json>` for an answer, `exception:<message>` for an exception. */
interface Client {
  received: string[];
  send(event: string, data?: unknown): void;
  /** Resolves once `count` things were received. */
  receivedCount(count: number): Promise<string[]>;
}

async function ioClient(url: string, cookie: string): Promise<Client> {
  const socket: Socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookie }, forceNew: true });
  await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
  return wrap(
    (push) => {
      socket.on('exception', (e: { message: string }) => push(`exception:${e.message}`));
      return (event, data) => socket.emit(event, data ?? {}, (answer: unknown) => push(`ack:${JSON.stringify(answer)}`));
    },
    () => socket.close(),
  );
}

async function wsClient(url: string, cookie: string): Promise<Client> {
  const socket = new WebSocket(url.replace('http', 'ws'), { headers: { Cookie: cookie } });
  await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
  return wrap(
    (push) => {
      socket.on('message', (raw) => {
        const message = JSON.parse((raw as Buffer).toString()) as { event?: string; data?: { message?: string } };
        push(message?.event === 'exception' ? `exception:${message.data?.message}` : `ack:${JSON.stringify(message)}`);
      });
      return (event, data) => socket.send(JSON.stringify({ event, data: data ?? {} }));
    },
    () => socket.close(),
  );
}

function wrap(bind: (push: (s: string) => void) => (event: string, data?: unknown) => void, close: () => void): Client {
  const received: string[] = [];
  const waiters: { count: number; resolve: (r: string[]) => void }[] = [];
  const push = (s: string) => {
    received.push(s);
    for (const w of waiters.slice()) {
      if (received.length < w.count) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve([...received]);
    }
  };
  const send = bind(push);
  closers.push(close);
  return {
    received,
    send,
    receivedCount: (count) =>
      received.length >= count ? Promise.resolve([...received]) : new Promise((resolve) => waiters.push({ count, resolve })),
  };
}

/** The catalog's message for `error` (a store's own error, which the catalog knows by the store failure log, has a fixed one). */
const catalogMessage = (error: unknown) => sessionErrorOf(error).message ?? 'Session state failed; the changes of this request were not saved.';

describe.each(['socket.io', 'ws'] as const)('WebSocket answers after the save, over %s', (ws) => {
  const connect = ws === 'ws' ? wsClient : ioClient;
  let a: App;
  let cookie: string;
  let lifecycle: SessionStateLifecycle;
  beforeEach(async () => {
    a = await start(ws);
    cookie = sessionCookie((await request(a.url).post('/seed').expect(200)).headers)!;
    lifecycle = a.app.get(SessionStateLifecycle);
  });

  const failures: [string, () => Error, string?][] = [
    ['too large (413)', () => new SessionStateTooLargeError(5000, 1000)],
    [
      'its lock lost (409)',
      () => new SessionStateLockLostError('lock mismatch', 'lock_mismatch'),
      'The session lock was lost (broken as stale, or the session was removed); the changes of this request were not saved.',
    ],
    ['the store unavailable (503)', () => new SessionStateStoreUnavailableError('The store did not answer in time.')],
    ["the store's own error (500)", () => new Error('ECONNRESET')],
  ];

  it.each(failures)('a message whose save fails, %s: the client gets the exception alone, never the answer', async (_, fault, message) => {
    const client = await connect(a.url, cookie);
    a.store.failNextSave = fault();
    client.send('increment');
    await vi.waitUntil(() => client.received.some((r) => r.startsWith('exception:')), { timeout: 5000 });
    // Then a read-only message: its answer comes after anything the first one could still send.
    client.send('counter');
    const all = await client.receivedCount(2);
    expect(all[0]).toBe(`exception:${message ?? catalogMessage(fault())}`);
    expect(all.slice(1).every((r) => r.startsWith('ack:'))).toBe(true);
    expect(all).toHaveLength(2);
    await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
    expect(lifecycle.activeLeases).toBe(0);
  });

  it('a save refused as too large by the store itself: the exception alone, the stored session unchanged', async () => {
    const client = await connect(a.url, cookie);
    client.send('big', { size: 5000 });
    await vi.waitUntil(() => client.received.some((r) => r.startsWith('exception:')), { timeout: 5000 });
    client.send('counter');
    const all = await client.receivedCount(2);
    expect(all).toEqual([`exception:${catalogMessage(new SessionStateTooLargeError(5000, 1000))}`, 'ack:0']);
  });

  it('a message that answers, then fails: the exception alone, its changes discarded (review R18)', async () => {
    const client = await connect(a.url, cookie);
    client.send('answerThenFail');
    await vi.waitUntil(() => client.received.some((r) => r.startsWith('exception:')), { timeout: 5000 });
    client.send('counter');
    expect(await client.receivedCount(2)).toEqual(['exception:failed after answering', 'ack:0']);
    expect(lifecycle.activeLeases).toBe(0);
  });

  it('regenerateId() in a message: the session kept under its id, and the log says why in words for a message (review R18)', async () => {
    const client = await connect(a.url, cookie);
    const errors = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {});
    let lines: string[];
    try {
      client.send('login');
      await client.receivedCount(1);
    } finally {
      lines = errors.mock.calls.map((call) => String(call[0]));
      errors.mockRestore();
    }
    expect(lines).toEqual([
      'regenerateId(): a message of a connection (a WebSocket, a GraphQL subscription) cannot set a cookie. Log in over HTTP. The session was kept under its current id.',
    ]);
    await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
  });

  it('a message whose save succeeds gets its answer, and the session holds what it said', async () => {
    const client = await connect(a.url, cookie);
    client.send('increment');
    expect(await client.receivedCount(1)).toEqual(['ack:1']);
    await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
  });

  it('a read-only message is answered as before', async () => {
    await request(a.url).post('/count').set('Cookie', cookie).expect(200);
    const client = await connect(a.url, cookie);
    client.send('counter');
    expect(await client.receivedCount(1)).toEqual(['ack:1']);
  });
});

describe('WebSocket answers after the save, over ws: several answers to one message', () => {
  it('all go out, in order, once the session was saved; none if the save fails', async () => {
    const a = await start('ws');
    const cookie = sessionCookie((await request(a.url).post('/seed').expect(200)).headers)!;
    const client = await wsClient(a.url, cookie);
    client.send('steps');
    expect(await client.receivedCount(3)).toEqual([1, 2, 3].map((n) => `ack:${JSON.stringify({ event: 'step', data: n })}`));
    await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 3 });
    a.store.failNextSave = new SessionStateStoreUnavailableError('The store did not answer in time.');
    client.send('steps');
    client.send('counter');
    const all = await client.receivedCount(5);
    expect(all.slice(3)).toEqual([`exception:${catalogMessage(new SessionStateStoreUnavailableError(''))}`, 'ack:3']);
    await request(a.url).get('/count').set('Cookie', cookie).expect(200, { count: 3 });
  });
});
