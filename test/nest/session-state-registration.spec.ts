/**
 * Where SessionStateModule is registered. Registered twice (forRoot() in two feature modules, or in
 * the root module and again in a feature module), each registration is a module of its own with its
 * own store: one cookie, two session spaces. With isGlobal: false, a handler in a module that does not
 * import it would answer 500 to every request. Both are refused at startup, saying what to do.
 */
import { Controller, Module, Post } from '@nestjs/common';
import request from 'supertest';
import { HttpSessionState, Session, SessionStateModule } from 'nestjs-session-state';
import { createTestApp, sessionCookie } from '../support/test-app.js';

function counter(path: string) {
  @Controller(path)
  class CounterController {
    @Post()
    inc(@Session() s: HttpSessionState) {
      const n = ((s.get('n') as number | undefined) ?? 0) + 1;
      s.set('n', n);
      return { n };
    }
  }
  return CounterController;
}

@Module({ imports: [SessionStateModule.forRoot({ isGlobal: false })], controllers: [counter('cart')] })
class CartModule {}

@Module({ imports: [SessionStateModule.forRoot({ isGlobal: false })], controllers: [counter('checkout')] })
class CheckoutModule {}

@Module({ imports: [SessionStateModule.forRoot()], controllers: [counter('wishlist')] })
class WishlistModule {}

@Module({ controllers: [counter('orders')] })
class OrdersModule {}

// The pattern that works with isGlobal: false: one module registers it and exports it.
@Module({ imports: [SessionStateModule.forRoot({ isGlobal: false })], exports: [SessionStateModule] })
class SessionModule {}

@Module({ imports: [SessionModule], controllers: [counter('basket')] })
class BasketModule {}

@Module({ imports: [SessionModule], controllers: [counter('payment')] })
class PaymentModule {}

describe('SessionStateModule registered more than once in one application', () => {
  it('is refused at startup when forRoot({ isGlobal: false }) is imported in two feature modules, saying how to register it once', async () => {
    await expect(createTestApp('express', { imports: [CartModule, CheckoutModule] })).rejects.toThrow(
      /SessionStateModule is registered 2 times in this application: .*isGlobal: false, in one module of yours that imports SessionStateModule\.forRoot\(\.\.\.\) and exports SessionStateModule/,
    );
  });

  it('is refused at startup when forRoot() is in the root module and again in a feature module', async () => {
    await expect(
      createTestApp('express', { imports: [SessionStateModule.forRoot(), WishlistModule], controllers: [counter('cart')] }),
    ).rejects.toThrow(/SessionStateModule is registered 2 times in this application: /);
  });
});

describe('isGlobal: false', () => {
  it('refuses at startup a handler using the session in a module that does not import it, naming the handler', async () => {
    await expect(createTestApp('express', { imports: [SessionStateModule.forRoot({ isGlobal: false }), OrdersModule] })).rejects.toThrow(
      /CounterController\.inc\(\) \(in OrdersModule\) uses the session, but SessionStateModule is not reachable from the module declaring it/,
    );
  });

  it('one module that imports forRoot() and exports SessionStateModule: one session across the feature modules importing it', async () => {
    const app = await createTestApp('express', { imports: [BasketModule, PaymentModule] });
    try {
      const server = app.getHttpServer();
      const first = await request(server).post('/basket').expect(201);
      const cookie = sessionCookie(first.headers)!;
      const second = await request(server).post('/payment').set('Cookie', cookie).expect(201);
      expect(second.body).toEqual({ n: 2 });
      expect(sessionCookie(second.headers) ?? cookie).toBe(cookie);
    } finally {
      await app.close();
    }
  });
});

describe('two applications of one process, each with its registration', () => {
  it('start and serve their sessions', async () => {
    const apps = await Promise.all(
      ['express', 'fastify'].map((adapter) =>
        createTestApp(adapter as 'express' | 'fastify', { imports: [SessionStateModule.forRoot()], controllers: [counter('cart')] }),
      ),
    );
    try {
      for (const app of apps) {
        const cookie = sessionCookie((await request(app.getHttpServer()).post('/cart').expect(201)).headers)!;
        await request(app.getHttpServer()).post('/cart').set('Cookie', cookie).expect(201, { n: 2 });
      }
    } finally {
      await Promise.all(apps.map((app) => app.close()));
    }
  });
});
