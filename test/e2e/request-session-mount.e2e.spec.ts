import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { InMemorySessionStateStore, SessionStateModule, mountSessionState } from '../../src/index.js';
import { Gates } from '../support/gates.js';
import { ADAPTERS, sessionCookie, type AdapterName } from '../support/test-app.js';
import { AccessorGuard, CounterResolver, ProfileResolver } from './fixtures/graphql-counter.resolver.js';
import { SessionTestController } from './fixtures/session-test.controller.js';
import { gql, graphqlModule } from './graphql-app.js';

async function mountedApp(adapter: AdapterName): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionStateModule.forRoot({ store: new InMemorySessionStateStore() }), graphqlModule(adapter)],
    controllers: [SessionTestController],
    providers: [{ provide: Gates, useValue: new Gates() }, CounterResolver, ProfileResolver, AccessorGuard],
  }).compile();
  const app =
    adapter === 'express'
      ? moduleRef.createNestApplication({ logger: false })
      : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await mountSessionState(app);
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

describe.each(ADAPTERS)('an app with req.session mounted keeps its other transports, over %s', (adapter) => {
  let app: INestApplication;
  beforeAll(async () => {
    app = await mountedApp(adapter);
  });
  afterAll(() => app.close());

  it('GraphQL requests and HTTP routes share the session; the counts add up', async () => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/count').expect(200)).headers)!;
    expect((await gql(http, { query: 'mutation { increment }' }, cookie)).body).toEqual({ data: { increment: 2 } });
    expect((await gql(http, { query: '{ counter }' }, cookie)).body).toEqual({ data: { counter: 2 } });
    await request(http).post('/count').set('Cookie', cookie).expect(200, { count: 3 });
    await request(http).get('/count').set('Cookie', cookie).expect(200, { count: 3 });
  });

  it('a route no controller serves answers 404 as before, with and without a cookie', async () => {
    const http = app.getHttpServer();
    const cookie = sessionCookie((await request(http).post('/count').expect(200)).headers)!;
    await request(http).get('/nowhere').expect(404);
    await request(http).get('/nowhere').set('Cookie', cookie).expect(404);
  });
});

describe('two applications in one process, each with its own mount', () => {
  it('keep their sessions apart', async () => {
    const [a, b] = await Promise.all([mountedApp('express'), mountedApp('express')]);
    try {
      const cookie = sessionCookie((await request(a.getHttpServer()).post('/count').expect(200)).headers)!;
      await request(a.getHttpServer()).get('/count').set('Cookie', cookie).expect(200, { count: 1 });
      await request(b.getHttpServer()).get('/count').set('Cookie', cookie).expect(200, { count: 0 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
