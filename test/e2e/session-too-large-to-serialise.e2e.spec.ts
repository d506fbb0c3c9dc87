import { Body, Controller, Get, HttpCode, Post, Query, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, InMemorySessionStateStore, Session, SessionStateModule, SessionStateTooLargeError } from '../../src/index.js';
import { createTestSession } from '../../src/testing/index.js';
import { createTestApp, sessionCookie } from '../support/test-app.js';

// A session whose JSON is longer than V8's longest string (about 2^29 characters: 280 million '"',
// each escaped to 2) cannot be serialised at all: JSON.stringify's bare RangeError ("Invalid string
// length") was a 500, where a session larger than the store takes is a 413. Reproducing it for real
// takes about 1 GB and 9 s; here JSON.stringify fails so for the items holding the key `huge` only.
type Loose = HttpSessionState & { set(key: string, value: unknown): unknown; get(key: string): unknown };

const stringify = JSON.stringify;
beforeEach(() => {
  vi.spyOn(JSON, 'stringify').mockImplementation(function (this: unknown, ...args: Parameters<typeof JSON.stringify>) {
    const [value] = args;
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'huge')) throw new RangeError('Invalid string length');
    return stringify.apply(this, args);
  } as typeof JSON.stringify);
});
afterEach(() => {
  vi.restoreAllMocks();
});

@Controller('huge')
class HugeController {
  @Post('put')
  @HttpCode(200)
  put(@Session() s: HttpSessionState, @Body() body: Record<string, unknown>, @Query('huge') huge?: string) {
    for (const [key, value] of Object.entries(body ?? {})) (s as Loose).set(key, value);
    if (huge) (s as Loose).set('huge', huge);
    return { keys: s.keys() };
  }

  @Get('all')
  all(@Session() s: HttpSessionState) {
    return { items: Object.fromEntries(s.keys().map((k) => [k, (s as Loose).get(k)])) };
  }
}

let app: INestApplication;
beforeAll(async () => {
  app = await createTestApp('express', {
    imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() })],
    controllers: [HugeController],
  });
});
afterAll(async () => {
  await app?.close();
});

describe('a session too large to serialise at all', () => {
  it('serializeItems throws SessionStateTooLargeError (limit: the longest string), not the bare RangeError', () => {
    const session = createTestSession() as Loose;
    session.set('huge', 'x');
    expect(() => session.serializeItems()).toThrow(SessionStateTooLargeError);
    expect(() => session.serializeItems()).toThrow(/larger than the store's limit of 536870888 bytes/);
  });

  it('a request saving it is a 413 (too large), not a 500; the stored session stays as it was, and unlocked', async () => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/huge/put').send({ a: 1 }).expect(200)).headers)!;
    const answer = await request(http).post('/huge/put?huge=1').set('Cookie', cookie);
    expect(answer.status).toBe(413);
    await request(http)
      .get('/huge/all')
      .set('Cookie', cookie)
      .expect(200, { items: { a: 1 } });
  });
});
