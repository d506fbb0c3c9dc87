import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';

export type AdapterName = 'express' | 'fastify';
export const ADAPTERS: AdapterName[] = ['express', 'fastify'];

/** A Nest application on the given HTTP adapter, initialised and ready for supertest. */
export async function createTestApp(
  adapter: AdapterName,
  metadata: ModuleMetadata,
  /** Runs before `init()` (a WebSocket adapter, `mountSessionState`), awaited. */
  configure?: (app: INestApplication) => unknown,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  if (adapter === 'express') {
    const app = moduleRef.createNestApplication({ logger: false });
    await configure?.(app);
    await app.init();
    return app;
  }
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  await configure?.(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** The `name=value` of the session cookie set by a response, or undefined. */
export function sessionCookie(headers: Record<string, unknown>, name = 'sid'): string | undefined {
  return sessionSetCookie(headers, name)?.split(';')[0];
}

/** The Set-Cookie line of the session cookie, with its attributes. */
export function sessionSetCookie(headers: Record<string, unknown>, name = 'sid'): string | undefined {
  const raw = headers['set-cookie'];
  const all = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as string[];
  return all.find((c) => c.startsWith(`${name}=`));
}

/**
 * An anonymous visitor's session with a cart, made by `POST /api/set` (the express-session API
 * controller of the passport fixtures): its cookie, as a browser sends it back.
 */
export async function cartSession(server: Parameters<typeof request>[0]): Promise<string> {
  const answer = await request(server)
    .post('/api/set')
    .send({ cart: ['book'] })
    .expect(200);
  const cookie = sessionCookie(answer.headers);
  if (!cookie) throw new Error('POST /api/set set no session cookie');
  return cookie;
}
