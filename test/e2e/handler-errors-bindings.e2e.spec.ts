/**
 * Handler failures of every shape, on Express and Fastify, with the interceptor and the
 * guard binding: thrown synchronously, rejected, an Observable that errors after emitting (at once,
 * or later), an Observable that emits twice then errors. Each: a non-2xx, its change discarded, a
 * writer queued behind it gets the session, and afterwards no lease, no coordinator entry, no lock.
 */
import { Controller, Get, HttpCode, Module, Post, Query, UseGuards, type Type } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable } from 'rxjs';
import request from 'supertest';
import { HttpSessionState, Session, SessionState, SessionStateBehavior, SessionStateGuard, SessionStateModule } from '../../src/index.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';
import { InMemorySessionStateStore } from '../../src/store/in-memory/in-memory-session-state.store.js';
import { ADAPTERS, createTestApp, sessionCookie } from '../support/test-app.js';

function controller(guarded: boolean): Type {
  @Controller('h')
  @UseGuards(...(guarded ? [SessionStateGuard] : []))
  class HandlerErrors {
    @Post('inc')
    @HttpCode(200)
    async inc(@Session() s: HttpSessionState, @Query('d') d?: string) {
      const n = s.get<number>('n') ?? 0;
      await sleep(Number(d ?? 0));
      s.set('n', n + 1);
      return { n: n + 1 };
    }

    @Get('n')
    @SessionState(SessionStateBehavior.ReadOnly)
    read(@Session() s: HttpSessionState) {
      return { n: s.get<number>('n') ?? 0 };
    }

    @Post('sync')
    sync(@Session() s: HttpSessionState): never {
      s.set('n', 999);
      throw new Error('sync');
    }

    @Post('async')
    async rejects(@Session() s: HttpSessionState) {
      s.set('n', 999);
      await sleep(20);
      throw new Error('async');
    }

    @Post('obs-now')
    obsNow(@Session() s: HttpSessionState): Observable<unknown> {
      return new Observable((subscriber) => {
        s.set('n', 999);
        subscriber.next({ n: 999 });
        subscriber.error(new Error('after emitting'));
      });
    }

    @Post('obs-later')
    obsLater(@Session() s: HttpSessionState): Observable<unknown> {
      return new Observable((subscriber) => {
        s.set('n', 999);
        subscriber.next({ n: 999 });
        const timer = setTimeout(() => (subscriber.next({ n: 1000 }), subscriber.error(new Error('later'))), 20);
        return () => clearTimeout(timer);
      });
    }
  }
  return HandlerErrors;
}

const Plain = controller(false);
const Guarded = controller(true);

describe.each(ADAPTERS.flatMap((a) => (['interceptor', 'guard'] as const).map((b) => [`${a} ${b}`, a, b] as const)))(
  'handler errors: %s',
  (_name, adapter, binding) => {
    @Module({ controllers: [binding === 'guard' ? Guarded : Plain] })
    class M {}

    it.each(['sync', 'async', 'obs-now', 'obs-later'])('%s: 500, nothing saved, the next writer gets through, nothing left', async (route) => {
      const store = new InMemorySessionStateStore();
      const app = await createTestApp(adapter, { imports: [SessionStateModule.forRoot({ store }), M] });
      try {
        const http = app.getHttpServer();
        const cookie = sessionCookie((await request(http).post('/h/inc').expect(200)).headers)!;
        // The failing request, with two writers queued behind it.
        const [failing, a, b] = await Promise.all([
          request(http).post(`/h/${route}`).set('Cookie', cookie),
          request(http).post('/h/inc?d=5').set('Cookie', cookie),
          request(http).post('/h/inc?d=5').set('Cookie', cookie),
        ]);
        expect(failing.status).toBe(500);
        expect([a.status, b.status]).toEqual([200, 200]);
        expect((await request(http).get('/h/n').set('Cookie', cookie).expect(200)).body).toEqual({ n: 3 });
        const lifecycle = app.get(SessionStateLifecycle);
        expect({ leases: lifecycle.activeLeases, entries: lifecycle.locks.size }).toEqual({ leases: 0, entries: 0 });
        const id = cookie.slice(cookie.indexOf('=') + 1);
        expect((await store.getItem(id)).kind).toBe('loaded');
      } finally {
        await app.close();
      }
    });
  },
);
