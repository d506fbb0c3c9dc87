/**
 * `req.session` (mounted) against expressjs/session's own cases (found by review R9):
 * - `reload()` of a session the store does not hold under its id (new, or moved by `regenerate()` and
 *   not saved since) fails, as express-session's reload of a missing id does: it never brings back the
 *   data `regenerate()` dropped.
 * - A middleware's `req.session.cookie.maxAge` ("remember me") is carried over to a route that writes.
 * - `req.session.cookie.expires = null` makes a browser-session cookie; a `Date` sets `maxAge`; anything
 *   else is a clear error naming `cookie.maxAge`.
 */
import { Body, Controller, HttpCode, Post, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { mountSessionState, SessionState, SessionStateBehavior, type RequestSession } from '../../src/index.js';
import { startSessionApp, type SessionApp } from './session-app.js';
import { ADAPTERS, sessionCookie, sessionSetCookie, type AdapterName } from '../support/test-app.js';

const run = (fn: (cb: (error?: unknown) => void) => void) => new Promise<void>((resolve, reject) => fn((e) => (e ? reject(e) : resolve())));
type WithSession = { session: RequestSession };
const messageOf = (promise: Promise<void>) =>
  promise.then(
    () => null,
    (e: Error) => e.message,
  );

@Controller('compat')
@SessionState(SessionStateBehavior.Required)
class ExpressSessionCasesController {
  /** expressjs/session ".reload() should error is session missing": regenerate(), then reload(). */
  @Post('regenerate-reload')
  @HttpCode(200)
  async regenerateReload(@Req() req: WithSession) {
    await run((cb) => req.session.regenerate(cb));
    const error = await messageOf(run((cb) => req.session.reload(cb)));
    return { error, keys: Object.keys(req.session) };
  }

  /** regenerate(), a write, save(): the new id is stored, and reload() gives back what was saved. */
  @Post('regenerate-save-reload')
  @HttpCode(200)
  async regenerateSaveReload(@Req() req: WithSession) {
    await run((cb) => req.session.regenerate(cb));
    req.session.kept = 'saved';
    await run((cb) => req.session.save(cb));
    req.session.dropped = 'unsaved';
    const error = await messageOf(run((cb) => req.session.reload(cb)));
    return { error, keys: Object.keys(req.session) };
  }

  /** A session new to the store: nothing to reload. */
  @Post('reload-new')
  @HttpCode(200)
  async reloadNew(@Req() req: WithSession) {
    return { error: await messageOf(req.session.reload()) };
  }

  @Post('write')
  @HttpCode(200)
  write(@Req() req: WithSession) {
    req.session.written = true;
    return 'ok';
  }

  /** expressjs/session ".cookie .expires when null should be a browser-session cookie", and its other values. */
  @Post('expires')
  @HttpCode(200)
  expires(@Req() req: WithSession, @Body() body: { to: 'null' | 'false' | 'in-a-minute' | 'past' | 'text' }) {
    const cookie = req.session.cookie as { maxAge: number | null | undefined; expires: unknown };
    cookie.maxAge = 60_000;
    const to = { null: null, false: false, 'in-a-minute': new Date(Date.now() + 60_000), past: new Date(Date.now() - 1000), text: 'tomorrow' }[
      body.to
    ];
    try {
      cookie.expires = to;
    } catch (error) {
      return { error: (error as Error).message };
    }
    req.session.written = true;
    return { maxAge: cookie.maxAge ?? null };
  }
}

/** A middleware's "remember me", before the route is known. */
function rememberMe(app: INestApplication, adapter: AdapterName): void {
  const remember = (req: { headers: Record<string, unknown>; session?: RequestSession | null }) => {
    if (req.headers['x-remember-me']) req.session!.cookie.maxAge = 60_000;
  };
  if (adapter === 'express')
    app.use((req: WithSession & { headers: Record<string, unknown> }, _res: unknown, next: () => void) => (remember(req), next()));
  else
    (
      app.getHttpAdapter().getInstance() as { addHook(name: 'preHandler', hook: (req: Parameters<typeof remember>[0]) => Promise<void>): void }
    ).addHook('preHandler', async (req) => remember(req));
}

describe.each(ADAPTERS)('req.session against expressjs/session (%s)', (adapter) => {
  let t: SessionApp;
  beforeAll(async () => {
    t = await startSessionApp(
      adapter,
      { timeout: 20 },
      {
        controllers: [ExpressSessionCasesController],
        configure: async (app) => {
          await mountSessionState(app);
          rememberMe(app, adapter);
        },
      },
    );
  });
  afterAll(() => t.app.close());
  const http = () => request(t.app.getHttpServer());
  const seeded = async () => sessionCookie((await http().post('/seed').expect(200)).headers)!;
  const sidLine = (headers: Record<string, unknown>) => sessionSetCookie(headers);

  it('reload() after regenerate() fails and never brings back the data regenerate() dropped', async () => {
    const answer = await http()
      .post('/compat/regenerate-reload')
      .set('Cookie', await seeded())
      .expect(200);
    expect(answer.body).toEqual({ error: expect.stringMatching(/^req\.session\.reload\(\): the session is not stored under its id/), keys: [] });
  });

  it('reload() after regenerate() and save() gives back what save() stored', async () => {
    const answer = await http()
      .post('/compat/regenerate-save-reload')
      .set('Cookie', await seeded())
      .expect(200);
    expect(answer.body).toEqual({ error: null, keys: ['kept'] });
  });

  it('reload() of a session new to the store fails (nothing stored to reload)', async () => {
    const answer = await http().post('/compat/reload-new').expect(200);
    expect(answer.body).toEqual({ error: expect.stringMatching(/^req\.session\.reload\(\)/) });
  });

  it("a middleware's req.session.cookie.maxAge is carried over to a route that writes, and kept by the session", async () => {
    const cookie = await seeded();
    const answer = await http().post('/compat/write').set('Cookie', cookie).set('x-remember-me', '1').expect(200);
    expect(sidLine(answer.headers)).toMatch(/; Max-Age=60;/);
    // Kept with the session: a later write without the middleware's header renews it as persistent.
    const later = await http().post('/count').set('Cookie', cookie).expect(200);
    expect(sidLine(later.headers)).toMatch(/; Max-Age=60;/);
  });

  it.each(['null', 'false'])('req.session.cookie.expires = %s makes a browser-session cookie', async (to) => {
    const answer = await http().post('/compat/expires').send({ to }).expect(200);
    expect(answer.body).toEqual({ maxAge: null });
    const line = sidLine(answer.headers);
    expect(line).toBeDefined();
    expect(line).not.toMatch(/Max-Age|Expires/);
  });

  it('req.session.cookie.expires = a Date sets maxAge to the time until it', async () => {
    const answer = await http().post('/compat/expires').send({ to: 'in-a-minute' }).expect(200);
    const { maxAge } = answer.body as { maxAge: number };
    expect(maxAge).toBeGreaterThan(55_000);
    expect(maxAge).toBeLessThanOrEqual(60_000);
    expect(sidLine(answer.headers)).toMatch(/; Max-Age=(59|60);/);
  });

  it.each([
    ['past', /session\.cookie\.maxAge must be a whole number of milliseconds ≥ 1000/],
    ['text', /req\.session\.cookie\.expires takes a Date, or null.*set req\.session\.cookie\.maxAge/],
  ])('req.session.cookie.expires = %s is a clear error naming cookie.maxAge', async (to, message) => {
    const answer = await http().post('/compat/expires').send({ to }).expect(200);
    expect(answer.body).toEqual({ error: expect.stringMatching(message) });
  });
});
