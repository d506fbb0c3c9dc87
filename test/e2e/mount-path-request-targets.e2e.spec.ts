/**
 * Odd request targets through the mount (raw HTTP/1.1 on a socket), with a session cookie.
 */
import { Controller, Get, Post, Req, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { connect, type AddressInfo } from 'node:net';
import request from 'supertest';
import {
  HttpSessionState,
  InMemorySessionStateStore,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateModule,
  mountSessionState,
} from '../../src/index.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';

@Controller()
class Ctl {
  @Post('start')
  start(@Session() session: HttpSessionState) {
    session.set('n', 1);
    return 'ok';
  }

  @Get('auth/me')
  @SessionState(SessionStateBehavior.ReadOnly)
  me(@Req() req: { session?: unknown }) {
    return { session: req.session !== undefined && req.session !== null };
  }
}

function raw(port: number, lines: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(lines));
    let out = '';
    socket.setTimeout(3000, () => (socket.destroy(), resolve(out || 'TIMEOUT')));
    socket.on('data', (d) => {
      out += d.toString();
      if (out.includes('\r\n\r\n')) socket.end();
    });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe.each(ADAPTERS)('odd request targets through the mount on %s', (adapter: AdapterName) => {
  let app: INestApplication;
  let port: number;
  let cookie: string;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore(), cookie: { name: 'sid' } })],
      controllers: [Ctl],
    }).compile();
    app =
      adapter === 'express'
        ? moduleRef.createNestApplication({ logger: false })
        : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await mountSessionState(app, { path: '/auth' });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
    cookie = sessionCookie((await request(app.getHttpServer()).post('/start')).headers)!;
  });
  afterAll(() => app.close());

  it.each([
    'OPTIONS * HTTP/1.1',
    'GET http://localhost/auth/me HTTP/1.1',
    'GET /auth/me?%zz HTTP/1.1',
    'GET /auth//me HTTP/1.1',
    'GET /auth/me#x HTTP/1.1',
  ])('%s: not a 5xx, no hang', async (line) => {
    const out = await raw(port, `${line}\r\nHost: localhost\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
    const status = Number(out.split(' ')[1]);
    expect(out).not.toBe('TIMEOUT');
    expect(status).toBeLessThan(500);
  });
});
