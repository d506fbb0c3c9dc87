/**
 * The testing kit as docs/TESTING.md shows it: "counts failed logins" holds with the module option it
 * names (saveOnError: 'client-errors'); readSession answers null while a request holds the session and
 * the request's data once it answered; seedSession checks keys and timeout as set() and
 * session.timeout do.
 */
import { Body, Controller, Post, UnauthorizedException, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule, SessionStateValueError, type SessionStateModuleOptions } from 'nestjs-session-state';
import { readSession, seedSession } from 'nestjs-session-state/testing';
import { Gates } from '../support/gates.js';
import { createTestApp } from '../support/test-app.js';

const gates = new Gates();

/** USAGE.md's "Errors and session changes" login, the handler TESTING.md's "counts failed logins" tests. */
@Controller()
class LoginController {
  @Post('login')
  login(@Session() session: HttpSessionState, @Body() body: { password?: string }) {
    if (body.password !== 'right') {
      session.set('attempts', Number(session.get('attempts') ?? 0) + 1);
      throw new UnauthorizedException();
    }
    return {};
  }

  @Post('held')
  async held(@Session() session: HttpSessionState) {
    session.set('seen', true);
    await gates.pass('held');
    return {};
  }
}

describe('TESTING.md, "An e2e test with a seeded session"', () => {
  let app: INestApplication | undefined;
  const start = async (options: SessionStateModuleOptions) => {
    app = await createTestApp('express', { imports: [SessionStateModule.forRoot(options)], controllers: [LoginController] });
    return app;
  };
  afterEach(async () => {
    gates.openAll();
    await app?.close();
    app = undefined;
  });

  it("'counts failed logins' holds with saveOnError: 'client-errors', as the page says (without it the 401 saves nothing)", async () => {
    const wrong = { password: 'wrong' };
    for (const [saveOnError, attempts] of [
      ['client-errors', 1],
      [false, 0],
    ] as const) {
      const t = await start({ saveOnError });
      const cookie = await seedSession(t, { attempts: 0 });
      await request(t.getHttpServer()).post('/login').set('Cookie', cookie).send(wrong).expect(401);
      expect(await readSession(t, cookie)).toEqual({ attempts });
      await t.close();
      app = undefined;
    }
  });

  it('readSession answers null while a request holds the session, and that request’s data once it answered', async () => {
    const t = await start({});
    const cookie = await seedSession(t, { attempts: 0 });
    const inFlight = request(t.getHttpServer())
      .post('/held')
      .set('Cookie', cookie)
      .then((r) => r.status);
    await gates.arrived('held');
    expect(await readSession(t, cookie)).toBeNull();
    gates.open('held');
    expect(await inFlight).toBe(201);
    expect(await readSession(t, cookie)).toEqual({ attempts: 0, seen: true });
  });

  it('seedSession refuses the reserved key and a timeout session.timeout refuses', async () => {
    const t = await start({});
    await expect(seedSession(t, { 'nestjs-session-state:cookieMaxAge': 5000 })).rejects.toThrow(SessionStateValueError);
    await expect(seedSession(t, { a: 1 }, { timeout: 0 })).rejects.toThrow(RangeError);
    await expect(seedSession(t, { a: 1 }, { timeout: 1.5 })).rejects.toThrow(RangeError);
  });
});
