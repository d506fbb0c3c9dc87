import { Logger, type INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import * as api from '../../src/index.js';
import {
  InMemorySessionStateStore,
  SessionStateCorruptError,
  SessionStateEndedWhileWaitingError,
  SessionStateEndedError,
  SessionStateError,
  SessionStateLockLostError,
  SessionStateModule,
  SessionStateQueueFullError,
  SessionStateReadOnlyError,
  SessionStateStoreMisconfiguredError,
  SessionStateStoreUnavailableError,
  SessionStateTooLargeError,
  SessionStateOwnerCapError,
  SessionStateUnsupportedContextError,
  SessionStateValueError,
  SessionStateWaitAbortedError,
  type SessionStateAcquisition,
  type SessionStateRead,
} from '../../src/index.js';
import { startMetricsProbe, type MetricsProbe } from '../support/metrics-reader.js';
import { Gates } from '../support/gates.js';
import { createTestApp, sessionCookie, type AdapterName } from '../support/test-app.js';
import { idOf } from './session-app.js';
import { gql, startGraphQLApp } from './graphql-app.js';
import { CounterGateway } from './fixtures/counter.gateway.js';
import { SessionTestController } from './fixtures/session-test.controller.js';

/*
 * The error catalog (src/errors/session-error-catalog.ts), walked with real servers: every error
 * class the package exports, and a custom store's own error, thrown by the store on every transport
 * (HTTP on Express and Fastify, a socket.io gateway, GraphQL on Apollo and Mercurius). Each answer
 * has the catalog's status, message and Retry-After, is counted under its rejection reason, and shows
 * none of the store's internals: its table, the AWS error text, the session id; no log line shows the id.
 */

const TABLE = 'sessions-prod-7f3a';
const AWS_TEXT = 'AccessDeniedException: User arn:aws:iam::123456789012:role/web is not authorized';
const internals = (id: string) => `on DynamoDB table "${TABLE}" for session ${id}: ${AWS_TEXT}`;

/** A custom store's own error (a Redis client's, say): not one of the module's classes. */
class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

const STORE_FAILED = 'Session state failed; the changes of this request were not saved.';
const UNAVAILABLE = 'Session state is unavailable; try again.';

interface Case {
  name: string;
  /** The error class it walks (none for a custom store's own error). */
  type?: Function;
  error: (id: string) => unknown;
  status: number;
  message: string;
  retryAfter?: string;
  reason?: string;
  /** Where the store throws it: when the session is read (acquisition), and when it is saved (completion). */
  on?: ('read' | 'save')[];
}

const CASES: Case[] = [
  {
    name: 'SessionStateError',
    type: SessionStateError,
    error: (id) => new SessionStateError(`GetItem ${internals(id)}`),
    status: 500,
    message: STORE_FAILED,
  },
  {
    name: 'SessionStateCorruptError',
    type: SessionStateCorruptError,
    error: (id) => new SessionStateCorruptError(`undecodable items ${internals(id)}`),
    status: 500,
    message: STORE_FAILED,
    on: ['save'], // a record that cannot be read is a new session (logged), not an error
  },
  {
    name: 'SessionStateLockLostError',
    type: SessionStateLockLostError,
    error: (id) => new SessionStateLockLostError(`condition failed ${internals(id)}`, 'lock_mismatch'),
    status: 409,
    message: 'The session lock was lost (broken as stale, or the session was removed); the changes of this request were not saved.',
    reason: 'lock_lost',
  },
  {
    // Thrown by the lifecycle at a sign-in (test/e2e/owner-cap.e2e.spec.ts); from a store, the catalog's words.
    name: 'SessionStateOwnerCapError',
    type: SessionStateOwnerCapError,
    error: () => new SessionStateOwnerCapError(3),
    status: 409,
    message: 'Signed in on too many devices. Sign out of another session first.',
    reason: 'owner_cap',
  },
  {
    name: 'SessionStateEndedWhileWaitingError',
    type: SessionStateEndedWhileWaitingError,
    error: () => new SessionStateEndedWhileWaitingError(),
    status: 409,
    message: new SessionStateEndedWhileWaitingError().message,
    reason: 'lock_lost',
  },
  {
    name: 'SessionStateEndedError',
    type: SessionStateEndedError,
    error: () => new SessionStateEndedError(),
    status: 410,
    message: new SessionStateEndedError().message,
    reason: 'session_ended',
  },
  {
    name: 'SessionStateTooLargeError',
    type: SessionStateTooLargeError,
    error: () => new SessionStateTooLargeError(512_000, 409_600),
    status: 413,
    message: "The session state is larger than the store's limit; the changes of this request were not saved and the stored session is unchanged.",
    reason: 'too_large',
  },
  {
    name: 'SessionStateStoreUnavailableError',
    type: SessionStateStoreUnavailableError,
    error: (id) => new SessionStateStoreUnavailableError(`throttled ${internals(id)}`, { cause: new Error(AWS_TEXT) }),
    status: 503,
    message: UNAVAILABLE,
    reason: 'store_unavailable',
  },
  {
    name: 'SessionStateStoreMisconfiguredError',
    type: SessionStateStoreMisconfiguredError,
    error: (id) => new SessionStateStoreMisconfiguredError(`configuration error ${internals(id)}`),
    status: 503,
    message: UNAVAILABLE,
    reason: 'store_misconfigured',
  },
  {
    name: 'SessionStateQueueFullError',
    type: SessionStateQueueFullError,
    error: () => new SessionStateQueueFullError(16, 7),
    status: 503,
    message: 'Too many concurrent requests for one session; try again later.',
    retryAfter: '7',
    reason: 'queue_full',
  },
  {
    name: 'SessionStateWaitAbortedError',
    type: SessionStateWaitAbortedError,
    error: (id) => new SessionStateWaitAbortedError(`wait aborted ${internals(id)}`),
    status: 503,
    message: UNAVAILABLE,
    reason: 'aborted',
  },
  // Programming errors a store has no business throwing: answered as a failure of the store.
  {
    name: 'SessionStateReadOnlyError',
    type: SessionStateReadOnlyError,
    error: (id) => new SessionStateReadOnlyError(internals(id)),
    status: 500,
    message: STORE_FAILED,
  },
  {
    name: 'SessionStateUnsupportedContextError',
    type: SessionStateUnsupportedContextError,
    error: (id) => new SessionStateUnsupportedContextError('rpc', internals(id)),
    status: 500,
    message: STORE_FAILED,
  },
  {
    name: 'SessionStateValueError',
    type: SessionStateValueError,
    error: (id) => new SessionStateValueError(internals(id), 'k', ''),
    status: 500,
    message: STORE_FAILED,
  },
  { name: "a custom store's own error", error: (id) => new RedisReplyError(`ERR ${internals(id)}`), status: 500, message: STORE_FAILED },
  // Nest's handler logged it raw, session id and all, and answered its own 500 (review R17).
  { name: "a custom store's rejection that is not an Error (a string)", error: (id) => `ERR ${internals(id)}`, status: 500, message: STORE_FAILED },
];

/** An in-memory store that throws the armed error from its reads or its save, as a failing network store would. */
class FaultyStore extends InMemorySessionStateStore {
  fault: { on: 'read' | 'save'; error: () => unknown } | undefined;
  override async getItem(id: string): Promise<SessionStateRead> {
    if (this.fault?.on === 'read') throw this.fault.error();
    return super.getItem(id);
  }
  override async getItemExclusive(id: string): Promise<SessionStateAcquisition> {
    if (this.fault?.on === 'read') throw this.fault.error();
    return super.getItemExclusive(id);
  }
  override async setAndReleaseItemExclusive(...args: Parameters<InMemorySessionStateStore['setAndReleaseItemExclusive']>): Promise<void> {
    if (this.fault?.on === 'save') throw this.fault.error();
    return super.setAndReleaseItemExclusive(...args);
  }
}

interface Answer {
  /** The HTTP status (none over WebSocket). */
  status?: number;
  message: string;
  retryAfter?: string;
  /** Everything the client received, to search for internals. */
  raw: string;
}

interface Transport {
  name: string;
  start(store: FaultyStore): Promise<{ app: INestApplication; url: string }>;
  /** Makes one request that uses the session named by `cookie`, and answers what its client got. */
  call(url: string, cookie: string): Promise<Answer>;
  close?(): void;
}

async function startHttp(adapter: AdapterName, store: FaultyStore) {
  const app = await createTestApp(adapter, {
    imports: [SessionStateModule.forRoot({ store })],
    controllers: [SessionTestController],
    providers: [{ provide: Gates, useValue: new Gates() }],
  });
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

const http = (adapter: AdapterName): Transport => ({
  name: `HTTP on ${adapter === 'express' ? 'Express' : 'Fastify'}`,
  start: (store) => startHttp(adapter, store),
  async call(url, cookie) {
    const res = await request(url).post('/count').set('Cookie', cookie);
    return { status: res.status, message: res.body.message, retryAfter: res.headers['retry-after'], raw: JSON.stringify([res.headers, res.text]) };
  },
});

const graphql = (adapter: AdapterName): Transport => ({
  name: `GraphQL on ${adapter === 'express' ? 'Apollo (stack traces in answers, its default outside production and test)' : 'Mercurius'}`,
  async start(store) {
    // Apollo puts each error's stack (its original error's, through graphql-js) in the answer unless
    // NODE_ENV is production or test: the catalog's answer must not carry the store's text there either.
    const g = await startGraphQLApp(adapter, { store }, [], adapter === 'express' ? { includeStacktraceInErrorResponses: true } : {});
    await g.app.listen(0, '127.0.0.1');
    return { app: g.app, url: (await g.app.getUrl()).replace('[::1]', '127.0.0.1') };
  },
  async call(url, cookie) {
    const res = await gql(url, { query: 'mutation { increment }' }, cookie);
    const error = res.body.errors?.[0];
    expect(res.body.errors).toHaveLength(1);
    expect(error.extensions.code).toBe(`SESSION_STATE_${error.extensions.http?.status ?? res.status}`);
    return {
      status: error.extensions.http?.status ?? res.status,
      message: error.message,
      retryAfter: res.headers['retry-after'],
      raw: JSON.stringify([res.headers, res.text]),
    };
  },
});

let sockets: Socket[] = [];
const socketIo: Transport = {
  name: 'WebSocket (socket.io)',
  async start(store) {
    const app = await createTestApp(
      'express',
      {
        imports: [SessionStateModule.forRoot({ store })],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: new Gates() }, CounterGateway],
      },
      (app) => app.useWebSocketAdapter(new IoAdapter(app)),
    );
    await app.listen(0, '127.0.0.1');
    return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
  },
  async call(url, cookie) {
    const socket = io(url, { transports: ['websocket'], extraHeaders: { Cookie: cookie }, forceNew: true });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject)));
    const exception = new Promise<{ message: string; retryAfter?: number }>((resolve) => socket.once('exception', resolve));
    socket.emit('increment', {});
    const received = await exception;
    return { message: received.message, retryAfter: received.retryAfter?.toString(), raw: JSON.stringify(received) };
  },
  close: () => sockets.splice(0).forEach((s) => s.close()),
};

const TRANSPORTS: Transport[] = [http('express'), http('fastify'), socketIo, graphql('express'), graphql('fastify')];

let probe: MetricsProbe;
beforeAll(() => {
  probe = startMetricsProbe(); // before any application starts: the module takes the global meter then
});
afterAll(() => probe.stop());

it('the cases below walk every error class the package exports', () => {
  const exported = Object.values(api).filter((value) => typeof value === 'function' && value.prototype instanceof Error);
  expect(new Set(CASES.map((c) => c.type).filter(Boolean))).toEqual(new Set(exported));
});

describe.each(TRANSPORTS)('the error catalog over $name', (transport) => {
  let app: INestApplication;
  let url: string;
  const store = new FaultyStore();
  beforeAll(async () => {
    ({ app, url } = await transport.start(store));
  });
  afterAll(() => app.close());
  afterEach(() => {
    store.fault = undefined;
    transport.close?.();
  });

  const walks = CASES.flatMap((c) => (c.on ?? ['read', 'save']).map((on) => ({ ...c, at: on })));
  it.each(walks)('$name thrown by the store ($at): the catalog answer, counted by reason, no store internals', async (c) => {
    const cookie = sessionCookie((await request(url).post('/seed').expect(200)).headers)!;
    const id = idOf(cookie);
    store.fault = { on: c.at, error: () => c.error(id) };
    const before = await probe.read();
    const spies = [vi.spyOn(Logger.prototype, 'error').mockImplementation(() => {}), vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => {})];
    let answer: Answer;
    let lines: string[];
    try {
      answer = await transport.call(url, cookie);
    } finally {
      lines = spies.flatMap((spy) => spy.mock.calls.map((call) => call.map(String).join(' ')));
      spies.forEach((spy) => spy.mockRestore());
    }
    // No log line carries the session id (the store failure log redacts it; nothing logs the raw error).
    for (const line of lines) expect(line).not.toContain(id);

    if (answer.status !== undefined) expect(answer.status).toBe(c.status);
    expect(answer.message).toBe(c.message);
    expect(answer.retryAfter).toBe(c.retryAfter);
    for (const secret of [TABLE, 'AccessDeniedException', 'arn:aws', id]) expect(answer.raw).not.toContain(secret);
    const rejected = Object.entries(await probe.since(before)).filter(([series]) => series.startsWith('session_state.request.rejected'));
    expect(rejected).toEqual(c.reason ? [[`session_state.request.rejected{reason=${c.reason}}`, 1]] : []);
  });
});
