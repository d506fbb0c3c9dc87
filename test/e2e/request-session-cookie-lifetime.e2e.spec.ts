/**
 * `req.session.cookie` under `mountSessionState` reads what the cookie's Max-Age will be: the session's
 * own lifetime, else the module's `cookie.maxAge`, as express-session's reads its configured one
 * (docs/MIGRATING.md: "`req.session.cookie.maxAge` | the same"). It read "no lifetime" (undefined,
 * undefined, null) while the answer's Set-Cookie carried Max-Age=3600 (review R40).
 */
import { Controller, Get, Post, Req, HttpCode } from '@nestjs/common';
import type { Request } from 'express';
import express from 'express';
import session from 'express-session';
import request from 'supertest';
import { SessionState, SessionStateBehavior, SessionStateModule, mountSessionState } from '../../src/index.js';
import { createTestApp, sessionSetCookie } from '../support/test-app.js';

const SECRET = 'keyboard cat, but long enough';
type Cookieish = { maxAge?: number | null; originalMaxAge?: number | null; expires?: Date | null | false };
const cookieOf = (req: Request) => (req.session as unknown as { cookie: Cookieish }).cookie;
const describeCookie = (c: Cookieish) => ({
  maxAge: c.maxAge,
  originalMaxAge: c.originalMaxAge,
  expiresInMs: c.expires instanceof Date ? c.expires.getTime() - Date.now() : c.expires,
});

@Controller()
class CartController {
  @SessionState(SessionStateBehavior.Required)
  @Post('cart')
  @HttpCode(200)
  add(@Req() req: Request) {
    (req.session as unknown as Record<string, unknown>).cart = ['book'];
    return describeCookie(cookieOf(req));
  }

  @SessionState(SessionStateBehavior.ReadOnly)
  @Get('cart')
  read(@Req() req: Request) {
    return describeCookie(cookieOf(req));
  }
}

describe('req.session.cookie under the module’s cookie.maxAge reads as under express-session', () => {
  it('express-session (the reference): maxAge ≈ 3 600 000, originalMaxAge 3 600 000, expires an hour ahead', async () => {
    const before = express();
    before.use(session({ secret: SECRET, resave: false, saveUninitialized: false, cookie: { maxAge: 3_600_000 } }));
    before.post('/cart', (req, res) => {
      (req.session as unknown as Record<string, unknown>).cart = ['book'];
      res.json(describeCookie(req.session.cookie as Cookieish));
    });
    const { body } = await request(before).post('/cart').expect(200);
    expect(body.originalMaxAge).toBe(3_600_000);
    expect(body.maxAge).toBeGreaterThan(3_590_000);
    expect(body.expiresInMs).toBeGreaterThan(3_590_000);
  });

  it('this module, mounted, with MIGRATING.md’s cookie: { maxAge: 3_600_000 }: the same readings', async () => {
    const app = await createTestApp(
      'express',
      {
        imports: [SessionStateModule.forRoot({ secret: SECRET, timeout: 60, cookie: { maxAge: 3_600_000 } })],
        controllers: [CartController],
      },
      (a) => mountSessionState(a),
    );
    try {
      const first = await request(app.getHttpServer()).post('/cart').expect(200);
      expect(sessionSetCookie(first.headers)).toMatch(/Max-Age=3600/); // the cookie IS persistent
      expect(first.body.originalMaxAge).toBe(3_600_000);
      expect(first.body.maxAge).toBeGreaterThan(3_590_000);
      expect(first.body.expiresInMs).toBeGreaterThan(3_590_000);

      const cookie = sessionSetCookie(first.headers)!.split(';')[0]!;
      const { body } = await request(app.getHttpServer()).get('/cart').set('Cookie', cookie).expect(200);
      expect(body.originalMaxAge).toBe(3_600_000);
      expect(body.expiresInMs).toBeGreaterThan(3_590_000);
    } finally {
      await app.close();
    }
  });
});
