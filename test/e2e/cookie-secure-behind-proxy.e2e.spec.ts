/**
 * `cookie.secure: 'auto'` behind a TLS-terminating proxy (USAGE.md: "Secure when the request is HTTPS
 * (behind a proxy, enable your adapter's trust-proxy)"; MIGRATING.md `proxy`), and `sameSite: 'none'`
 * with it (SameSite=None only with Secure, else Lax). Written by review R9 (no test covered it); cases
 * from expressjs/session's "proxy option" and "when "secure" set to "auto"" and fastify/session's
 * "should set session secure cookie secureAuto x-forwarded-proto header".
 */
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { SessionStateModule, type SessionCookieOptions } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { sessionSetCookie } from '../support/test-app.js';

async function start(adapter: 'express' | 'fastify', trustProxy: boolean, cookie?: SessionCookieOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ cookie })],
    controllers: [SessionTestController],
    providers: [{ provide: Gates, useValue: new Gates() }],
  }).compile();
  if (adapter === 'express') {
    const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
    if (trustProxy) app.set('trust proxy', 1);
    await app.init();
    return app;
  }
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ trustProxy }), { logger: false });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

const lineOf = async (app: INestApplication, proto?: string) => {
  const req = request(app.getHttpServer()).post('/seed');
  const answer = await (proto === undefined ? req : req.set('X-Forwarded-Proto', proto)).expect(200);
  const line = sessionSetCookie(answer.headers);
  expect(line).toBeDefined();
  return line!;
};
const secureOf = async (app: INestApplication, proto?: string) => /;\s*Secure(;|$)/i.test(await lineOf(app, proto));

describe.each(['express', 'fastify'] as const)("secure 'auto' behind a proxy (%s)", (adapter) => {
  describe('trust proxy on', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await start(adapter, true);
    });
    afterAll(() => app.close());
    it('X-Forwarded-Proto: https → Secure', async () => expect(await secureOf(app, 'https')).toBe(true));
    it('X-Forwarded-Proto: http → not Secure', async () => expect(await secureOf(app, 'http')).toBe(false));
    it('no header → not Secure', async () => expect(await secureOf(app)).toBe(false));
  });

  describe('trust proxy off', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await start(adapter, false);
    });
    afterAll(() => app.close());
    it('X-Forwarded-Proto: https is not trusted → not Secure', async () => expect(await secureOf(app, 'https')).toBe(false));
  });

  describe("sameSite 'none', trust proxy on", () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await start(adapter, true, { sameSite: 'none' });
    });
    afterAll(() => app.close());
    it('X-Forwarded-Proto: https → Secure; SameSite=None', async () => expect(await lineOf(app, 'https')).toMatch(/; Secure; SameSite=None$/));
    it('X-Forwarded-Proto: http → SameSite=Lax, not Secure', async () => {
      const line = await lineOf(app, 'http');
      expect(line).toMatch(/; SameSite=Lax$/);
      expect(line).not.toMatch(/Secure/);
    });
  });
});
