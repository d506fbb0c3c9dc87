/**
 * A write after `abandon()` in the same request: the session is removed at the request's end, so the
 * write could never be saved. It was accepted and dropped, the request answered 2xx (review R19); it
 * throws now, as a read-only session's write does (express-session fails too: `req.session` is gone
 * after `destroy()`). `abandon()` and `regenerateId()` stay allowed.
 */
import { Controller, Get, Post } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateModule, SessionStateReadOnlyError } from '../../src/index.js';
import { createTestSession } from '../../src/testing/index.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

@Controller()
class LogoutController {
  @Post('login')
  login(@Session() session: HttpSessionState) {
    session.set('user', 'ann');
    return {};
  }

  @Post('logout')
  logout(@Session() session: HttpSessionState) {
    session.abandon();
    session.set('flash', 'You are signed out.');
    return { ok: true };
  }

  @Get('user')
  @SessionState(SessionStateBehavior.ReadOnly)
  user(@Session() session: HttpSessionState) {
    return { user: session.get('user') ?? null };
  }
}

describe('writes to an abandoned session', () => {
  it.each<[string, (s: HttpSessionState) => unknown]>([
    ['set()', (s) => s.set('flash', 'bye')],
    ['delete()', (s) => s.delete('user')],
    ['clear()', (s) => s.clear()],
    ['timeout', (s) => (s.timeout = 30)],
    ['owner', (s) => (s.owner = 'ann')],
    ['cookie.maxAge', (s) => (s.cookie.maxAge = 60_000)],
  ])('%s throws SessionStateReadOnlyError, saying why; the session keeps what it had', (_, write) => {
    const session = createTestSession({ user: 'ann' });
    session.abandon();
    expect(() => write(session)).toThrow(SessionStateReadOnlyError);
    expect(() => write(session)).toThrow(/abandoned \(abandon\(\)\) in this request/);
    expect(session.get('user')).toBe('ann');
  });

  it('abandon() again and regenerateId() are still allowed', () => {
    const session = createTestSession({ user: 'ann' });
    session.abandon();
    expect(() => (session.abandon(), session.regenerateId())).not.toThrow();
  });

  it.each(ADAPTERS)('over %s: a logout that writes after abandon() fails loudly (500), and the session is kept as it was', async (adapter) => {
    const app = await createTestApp(adapter, { imports: [SessionStateModule.forRoot()], controllers: [LogoutController] });
    try {
      const server = app.getHttpServer();
      const cookie = sessionCookie((await request(server).post('/login').expect(201)).headers)!;
      await request(server).post('/logout').set('Cookie', cookie).expect(500);
      await request(server).get('/user').set('Cookie', cookie).expect(200, { user: 'ann' });
    } finally {
      await app.close();
    }
  });
});
