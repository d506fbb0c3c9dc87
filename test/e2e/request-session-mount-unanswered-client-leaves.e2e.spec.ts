/**
 * Under `mountSessionState`, the mount's read lease of a request whose answer never comes (a `@Res()`
 * long poll that gives up when its client leaves) ends when the client leaves, as the guard binding's
 * does: not at `executionTimeout`, meanwhile an active lease (memory under a stream of such requests)
 * that `app.close()` waits for. Both with nothing due at the answer and with a slide due (the answer is
 * then held for the renewed cookie). executionTimeout is 5 s so that a regression does not hold app.close() 110 s.
 * (Found by review R10.)
 */
import { request as httpRequest } from 'node:http';
import { Controller, Get, Req, Res } from '@nestjs/common';
import request from 'supertest';
import { InMemorySessionStateStore, mountSessionState } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { startSessionApp, type SessionApp } from './session-app.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';

/** A long poll that does not use the session: it answers when news comes, and gives up when its client leaves. */
@Controller()
class PollController {
  constructor(private readonly gates: Gates) {}
  @Get('poll')
  async poll(@Req() req: { raw?: NodeJS.EventEmitter } & NodeJS.EventEmitter, @Res() _res: unknown): Promise<void> {
    (req.raw ?? req).on('close', () => {
      /* the client left: nothing to answer */
    });
    await this.gates.pass('poll');
  }
}

describe.each(ADAPTERS)('a mounted route that never answers, its client gone (%s)', (adapter) => {
  let t: SessionApp | undefined;
  afterEach(async () => {
    t?.gates.openAll();
    await t?.app.close();
  });

  it.each([
    ['control: nothing due at the answer', 0],
    ['the expiry slides at the answer', 35_000],
  ])('leaves no lease active once the client has left (%s)', async (_case, behindMs) => {
    const store = new InMemorySessionStateStore({ clock: () => Date.now() - behindMs });
    t = await startSessionApp(
      adapter,
      { store, timeout: 1, cookie: { maxAge: 60_000 }, executionTimeout: 5 },
      { configure: (app) => mountSessionState(app), controllers: [PollController] },
    );
    const server = t.app.getHttpServer();
    if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cookie = sessionCookie((await request(server).post('/seed').expect(200)).headers)!;
    const req = httpRequest({ host: '127.0.0.1', port: server.address().port, method: 'GET', path: '/poll', headers: { cookie }, agent: false });
    req.on('error', () => {});
    req.end();
    await t.gates.arrived('poll');
    req.destroy();
    const connections = () => new Promise<number>((resolve) => server.getConnections((_: unknown, n: number) => resolve(n)));
    await vi.waitFor(async () => expect(await connections()).toBe(0));
    // Ended once the client left, the handler still running.
    await vi.waitFor(() => expect(t!.activeLeases()).toBe(0), { timeout: 1000 });
    t.gates.open('poll'); // the handler gives up, answering nothing
    await new Promise((resolve) => setImmediate(resolve));
    await vi.waitFor(() => expect(t!.activeLeases()).toBe(0), { timeout: 1000 });
  });
});
