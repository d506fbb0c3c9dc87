import { Controller, Get, Header, HttpCode, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import express from 'express';
import { createRequire } from 'node:module';
import { request as httpRequest, type ServerResponse } from 'node:http';
import request from 'supertest';
import {
  HttpSessionState,
  mountSessionState,
  Session,
  SessionState,
  SessionStateBehavior,
  SessionStateGuard,
  SessionStateModule,
} from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

/* Held answers beside other responses: sub-apps, HEAD and 304, large bodies, on-headers, sendFile, a client that leaves. */

const rawOf = (res: { raw?: ServerResponse } & object): ServerResponse => res.raw ?? (res as ServerResponse);

@Controller('ok')
class SoundController {
  constructor(private readonly gates: Gates) {}

  @Post('redirect')
  @SessionState(SessionStateBehavior.Required)
  redirect(@Session() session: HttpSessionState, @Res() res: object) {
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    const raw = rawOf(res);
    raw.writeHead(302, { location: '/ok/n' });
    raw.end();
  }

  @Get('n')
  @SessionState(SessionStateBehavior.ReadOnly)
  n(@Session() session: HttpSessionState) {
    return { n: session.get<number>('n') ?? 0 };
  }

  /** Writes, parks until the test opens `gate` (the client has left by then), then ends. */
  @Post('park')
  async park(@Session() session: HttpSessionState, @Res() res: object, @Query('gate') gate: string) {
    const raw = rawOf(res);
    raw.writeHead(200, { 'content-type': 'text/plain' });
    raw.write('first ');
    await this.gates.pass(gate);
    session.set('n', (session.get<number>('n') ?? 0) + 1);
    raw.end('last');
  }
}

@Controller('gb')
@UseGuards(SessionStateGuard)
class GuardBoundController {
  @Get('etag')
  @SessionState(SessionStateBehavior.Required)
  @Header('etag', '"v1"')
  etag(@Session() session: HttpSessionState) {
    session.set('seen', (session.get<number>('seen') ?? 0) + 1);
    return { big: 'x'.repeat(200_000) };
  }

  @Post('n')
  @HttpCode(200)
  count(@Session() session: HttpSessionState) {
    session.set('seen', (session.get<number>('seen') ?? 0) + 1);
    return { seen: session.get<number>('seen') };
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe('an Express sub-app mounted under a mounted Nest app', () => {
  it("the sub-app's responses (send, json, redirect, chunked writes) are unchanged after the Nest app's app.response was hooked", async () => {
    const sub = express();
    sub.get('/json', (_req, res) => res.json({ a: 1 }));
    sub.get('/redirect', (_req, res) => res.redirect('/elsewhere'));
    sub.get('/chunks', (_req, res) => {
      res.write('a');
      res.write('b');
      res.end('c');
    });
    const gates = new Gates();
    const app = await createTestApp(
      'express',
      {
        imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
        controllers: [SoundController],
        providers: [{ provide: Gates, useValue: gates }],
      },
      async (a) => {
        await mountSessionState(a);
        a.use('/sub', sub);
      },
    );
    apps.push(app);
    const http = app.getHttpServer();
    const first = await request(http).post('/ok/redirect').expect(302);
    const cookie = sessionCookie(first.headers)!;
    expect(cookie).toBeDefined();
    await request(http).get('/ok/n').set('Cookie', cookie).expect(200, { n: 1 });
    await request(http).get('/sub/json').expect(200, { a: 1 });
    await request(http).get('/sub/redirect').expect(302).expect('location', '/elsewhere');
    expect((await request(http).get('/sub/chunks').expect(200)).text).toBe('abc');
    await request(http).head('/sub/json').expect(200);
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});

describe.each(ADAPTERS)('held answers beside other responses, on %s', (adapter) => {
  let app: INestApplication;
  let gates: Gates;
  beforeEach(async () => {
    gates = new Gates();
    app = await createTestApp(adapter, {
      imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
      controllers: [SoundController, GuardBoundController],
      providers: [{ provide: Gates, useValue: gates }],
    });
    apps.push(app);
  });
  afterEach(() => gates.openAll());

  it('guard binding: HEAD and a 304 (If-None-Match) of a Required route answer as without the session; the lock is released', async () => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/gb/n').expect(200)).headers)!;
    const head = await request(http).head('/gb/etag').set('Cookie', cookie);
    expect(head.status).toBe(200);
    const notModified = await request(http).get('/gb/etag').set('Cookie', cookie).set('If-None-Match', '"v1"');
    expect(notModified.status).toBe(adapter === 'express' ? 304 : 200); // Fastify answers 304 only with @fastify/etag
    const full = await request(http).get('/gb/etag').set('Cookie', cookie).expect(200);
    expect((full.body as { big: string }).big).toHaveLength(200_000);
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
    await request(http).post('/gb/n').set('Cookie', cookie).expect(200, { seen: 5 });
  });

  it('@Res(): a client that leaves while its answer is held leaves no lock behind', async () => {
    await app.listen(0, '127.0.0.1');
    const { port } = (app.getHttpServer() as import('node:http').Server).address() as { port: number };
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/ok/redirect').expect(302)).headers)!;
    const req = httpRequest({ host: '127.0.0.1', port, path: '/ok/park?gate=p', method: 'POST', headers: { cookie } });
    const closed = new Promise<void>((resolve) => req.on('close', resolve));
    req.on('error', () => {});
    req.end();
    await gates.arrived('p');
    req.destroy();
    await closed;
    gates.open('p');
    await vi.waitFor(() => expect(app.get(SessionStateLifecycle).activeLeases).toBe(0));
    await request(http).get('/ok/n').set('Cookie', cookie).expect(200);
  });
});

describe('a middleware that wraps the response (on-headers, as compression/express-session/morgan use) before the mount', () => {
  it('its listener runs once on the held answer, which carries the session cookie', async () => {
    // on-headers ships no types (a dependency of express-session, installed on main).
    const onHeaders = createRequire(import.meta.url)('on-headers') as (res: object, listener: (this: ServerResponse) => void) => void;
    let calls = 0;
    const gates = new Gates();
    const app = await createTestApp(
      'express',
      {
        imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
        controllers: [SoundController],
        providers: [{ provide: Gates, useValue: gates }],
      },
      async (a) => {
        a.use((_req: unknown, res: ServerResponse, next: () => void) => {
          onHeaders(res, function () {
            calls++;
            this.setHeader('x-wrapped', String(calls));
          });
          next();
        });
        await mountSessionState(a);
      },
    );
    apps.push(app);
    const http = app.getHttpServer();
    const first = await request(http).post('/ok/redirect').expect(302).expect('x-wrapped', '1');
    const cookie = sessionCookie(first.headers)!;
    expect(cookie).toBeDefined();
    await request(http).post('/ok/redirect').set('Cookie', cookie).expect(302).expect('x-wrapped', '2');
    await request(http).get('/ok/n').set('Cookie', cookie).expect(200, { n: 2 });
    expect(calls).toBe(3);
  });
});

@Controller('file')
class FileController {
  static path = '';

  @Get()
  @SessionState(SessionStateBehavior.Required)
  file(@Session() session: HttpSessionState, @Res() res: { sendFile(path: string): void }) {
    session.set('downloads', (session.get<number>('downloads') ?? 0) + 1);
    res.sendFile(FileController.path);
  }

  @Get('count')
  @SessionState(SessionStateBehavior.ReadOnly)
  count(@Session() session: HttpSessionState) {
    return { downloads: session.get<number>('downloads') ?? 0 };
  }
}

describe('res.sendFile() of a Required @Res() route under the mount (Express)', () => {
  it('the file (4 MB) arrives whole, with the session cookie; the session is saved; no lock left', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    FileController.path = join(mkdtempSync(join(tmpdir(), 'r1-')), 'big.bin');
    writeFileSync(FileController.path, Buffer.alloc(4 * 1024 * 1024, 7));
    const app = await createTestApp(
      'express',
      { imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })], controllers: [FileController] },
      (a) => mountSessionState(a),
    );
    apps.push(app);
    const http = app.getHttpServer();
    const first = await request(http)
      .get('/file')
      .buffer(true)
      .parse((res, done) => {
        let n = 0;
        res.on('data', (chunk: Buffer) => (n += chunk.length));
        res.on('end', () => done(null, n));
      })
      .expect(200);
    expect(first.body).toBe(4 * 1024 * 1024);
    const cookie = sessionCookie(first.headers)!;
    expect(cookie).toBeDefined();
    await request(http).head('/file').set('Cookie', cookie).expect(200);
    await request(http).get('/file/count').set('Cookie', cookie).expect(200, { downloads: 2 });
    expect(app.get(SessionStateLifecycle).activeLeases).toBe(0);
  });
});
