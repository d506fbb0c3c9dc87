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

  @Post('attempts')
  attempts(@Session() session: HttpSessionState) {
    return { attempts: session.get('attempts') ?? null };
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

  it('seedSession stores when the session was created: now by default, or the given time, which absoluteTimeout counts from', async () => {
    const t = await start({ absoluteTimeout: 60 });
    const server = t.getHttpServer();
    const now = await seedSession(t, { attempts: 2 });
    await request(server).post('/attempts').set('Cookie', now).expect(201, { attempts: 2 });
    const hourAgo = await seedSession(t, { attempts: 3 }, { created: new Date(Date.now() - 59 * 60_000) });
    await request(server).post('/attempts').set('Cookie', hourAgo).expect(201, { attempts: 3 });
    // Past its absolute lifetime: gone whatever its activity; the request starts a new session.
    const old = await seedSession(t, { attempts: 4 }, { created: Date.now() - 61 * 60_000 });
    await request(server).post('/attempts').set('Cookie', old).expect(201, { attempts: null });
    expect(await readSession(t, old)).toBeNull();
    await expect(seedSession(t, { a: 1 }, { created: new Date(Number.NaN) })).rejects.toThrow(RangeError);
  });

  it('seedSession refuses the reserved key and a timeout session.timeout refuses', async () => {
    const t = await start({});
    await expect(seedSession(t, { 'nestjs-session-state:cookieMaxAge': 5000 })).rejects.toThrow(SessionStateValueError);
    await expect(seedSession(t, { a: 1 }, { timeout: 0 })).rejects.toThrow(RangeError);
    await expect(seedSession(t, { a: 1 }, { timeout: 1.5 })).rejects.toThrow(RangeError);
  });
});
