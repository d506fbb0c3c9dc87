import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Server } from 'node:http';
import { vi } from 'vitest';
import { SessionStateStore } from 'nestjs-session-state';
import { AppModule } from '../../src/app.module.js';
import { mountSessionAndPassport } from '../../src/auth/mount-passport.js';
import { createCountingStore, type CountingStore } from './counting-store.js';

export type AdapterName = 'express' | 'fastify';

export interface SampleApp {
  readonly app: INestApplication;
  /** Listening on 127.0.0.1 (an ephemeral port), so concurrent supertest requests share one server. */
  readonly server: Server;
  readonly counting: CountingStore;
  close(): Promise<void>;
}

/**
 * The sample app's `AppModule` on the given adapter, its session store replaced by a counting one
 * (around `inner`: another store, e.g. DynamoDB Local shared by two instances).
 */
export async function startSampleApp(adapter: AdapterName, inner?: SessionStateStore): Promise<SampleApp> {
  // The sample app reads these at startup: pin them so a developer's shell cannot change the contract
  // under test (an in-memory store, unsigned `sid` cookies, the id header on). Restored on close.
  vi.stubEnv('SESSION_STORE', 'memory');
  vi.stubEnv('SESSION_SECRET', undefined);
  vi.stubEnv('SESSION_ID_HEADER', 'x-session-id');
  const counting = createCountingStore(inner);
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forAdapter(adapter)] })
    .overrideProvider(SessionStateStore)
    .useValue(counting.store)
    .compile();
  return { ...(await listen(moduleRef, adapter)), counting };
}

/**
 * The sample app's `AppModule` as `npm start` runs it, configured by `env` (e.g. `SESSION_STORE`,
 * `REDIS_URL`; the other variables it reads are unset), its own store untouched.
 */
export async function startSampleAppWith(adapter: AdapterName, env: Record<string, string>): Promise<Omit<SampleApp, 'counting'>> {
  for (const name of ['SESSION_STORE', 'SESSION_SECRET', 'SESSION_APPLICATION', 'REDIS_URL']) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forAdapter(adapter)] }).compile();
  return listen(moduleRef, adapter);
}

/** The app on the adapter, listening on 127.0.0.1 (an ephemeral port); `close` also restores the environment. */
async function listen(moduleRef: TestingModule, adapter: AdapterName): Promise<Omit<SampleApp, 'counting'>> {
  let app: INestApplication;
  try {
    if (adapter === 'fastify') {
      const fastifyApp = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
      await mountSessionAndPassport(fastifyApp);
      await fastifyApp.init();
      await fastifyApp.getHttpAdapter().getInstance().ready();
      app = fastifyApp;
    } else {
      app = moduleRef.createNestApplication({ logger: false });
      await mountSessionAndPassport(app);
      await app.init();
    }
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    vi.unstubAllEnvs();
    throw error;
  }
  return {
    app,
    server: app.getHttpServer() as Server,
    close: async () => {
      try {
        await app.close();
      } finally {
        vi.unstubAllEnvs();
      }
    },
  };
}
