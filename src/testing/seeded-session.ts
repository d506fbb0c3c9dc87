import type { INestApplicationContext } from '@nestjs/common';
import { parse } from 'cookie';
import { SessionCookie } from '../cookie/session-cookie.js';
import { HttpSessionState } from '../session/http-session-state.js';
import type { JsonValue, SessionStateData } from '../session/session-data.js';
import { generateSessionId } from '../session/session-id.js';
import { assertTimeoutMinutes } from '../session/session-limits.js';
import { SESSION_STATE_OPTIONS } from '../module/session-state.constants.js';
import type { ResolvedSessionStateOptions } from '../module/session-state.options.js';
import { SessionStateStore } from '../store/session-state-store.js';
import { serializeTestData, type TestSessionData } from './test-session.js';

/** An application (or testing module) with `SessionStateModule` imported. */
export type SessionStateApp = Pick<INestApplicationContext, 'get'>;

/** A session's stored data: `Partial<TData>`, or a record of JSON values for an untyped session. */
export type StoredSessionData<TData extends object = SessionStateData> = [keyof TData] extends [never] ? Record<string, JsonValue> : Partial<TData>;

export interface SeedSessionOptions {
  /** Minutes, checked as `session.timeout` checks them. Default: the module's `timeout`. */
  timeout?: number;
  /**
   * When the session was created (or its id last regenerated): what `absoluteTimeout` counts from and
   * what `SessionManager` lists. Default: now, as for a session a request creates.
   */
  created?: Date | number;
}

/**
 * Stores a session holding `data` in the app's store and answers the `Cookie` header value that
 * carries it (`sid=…`, signed when the app has a `secret`), for an e2e test:
 *
 *   const cookie = await seedSession(app, { user: { id: 'u1' } });
 *   await request(app.getHttpServer()).get('/account').set('Cookie', cookie).expect(200);
 */
export async function seedSession<TData extends object = SessionStateData>(
  app: SessionStateApp,
  data: TestSessionData<TData>,
  options: SeedSessionOptions = {},
): Promise<string> {
  const { store, settings, cookie } = sessionStateOf(app);
  const id = generateSessionId();
  const timeout = options.timeout ?? settings.timeout;
  assertTimeoutMinutes(timeout);
  const created = options.created === undefined ? Date.now() : Number(options.created);
  if (!Number.isFinite(created)) throw new RangeError(`seedSession: created must be a Date or epoch milliseconds, got ${String(options.created)}`);
  await store.setAndReleaseItemExclusive(id, { items: serializeTestData(data), timeout, created }, null, true);
  return `${settings.cookie.name}=${cookie.value(id)}`;
}

/**
 * The stored data of the session a cookie carries (a `Cookie` header value, a `Set-Cookie` line,
 * or supertest's `res.headers['set-cookie']`), or `null` when there is no such session (no or
 * badly signed cookie, unknown, expired or removed session) or a request holds it. Reads without
 * taking the lock, as any reader: the store gives no data under a writer's lock, and the data from
 * before that request is about to be replaced (a test reading then races its request: await it).
 */
export async function readSession<TData extends object = SessionStateData>(
  app: SessionStateApp,
  cookies: string | readonly string[] | undefined,
): Promise<StoredSessionData<TData> | null> {
  const { store, settings, cookie } = sessionStateOf(app);
  const pair = [cookies ?? []].flat().find((line) => parse(line)[settings.cookie.name] !== undefined);
  if (pair === undefined) return null;
  const read = cookie.read({ cookieHeader: () => pair });
  if (read === null) return null;
  const stored = await store.getItem(read.id);
  // Absent, or held by a writer (whose data a reader never sees).
  if (stored.kind !== 'loaded') return null;
  const { item } = stored;
  // Through HttpSessionState: what a handler would see (module metadata left out).
  const session = new HttpSessionState<TData>({ id: read.id, items: item.items, isNew: false, isReadOnly: false, timeout: item.timeout });
  return Object.fromEntries(session.keys().map((key) => [key, session.get(key as never)])) as StoredSessionData<TData>;
}

function sessionStateOf(app: SessionStateApp) {
  let settings: ResolvedSessionStateOptions;
  try {
    settings = app.get<ResolvedSessionStateOptions>(SESSION_STATE_OPTIONS, { strict: false });
  } catch {
    throw new Error('nestjs-session-state/testing: this application does not import SessionStateModule.');
  }
  return { store: app.get(SessionStateStore, { strict: false }), settings, cookie: new SessionCookie(settings) };
}
