import { Test, type TestingModule } from '@nestjs/testing';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { firstValueFrom, of } from 'rxjs';
import { HttpSessionState, Session, SessionStateAccessor, SessionStateModule, SessionStateUnsupportedContextError } from '../../src/index.js';
import { SessionStateBehaviorResolver } from '../../src/nest/session-state-behavior.resolver.js';
import { SessionStateInterceptor } from '../../src/nest/session-state.interceptor.js';
import { SessionStateLifecycle } from '../../src/core/session-state.lifecycle.js';

class Handlers {
  withSession(@Session() session: HttpSessionState) {
    return session;
  }
  without() {
    return 'ok';
  }
}

/** The function `@Session()` runs for a parameter. */
const sessionFactory = (() => {
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Handlers, 'withSession') as Record<string, { factory: Function }>;
  return Object.values(args)[0].factory as (data: unknown, context: ExecutionContextHost) => HttpSessionState;
})();

function contextOf(type: string, handler: Function, args: unknown[] = [{}, {}]): ExecutionContextHost {
  const context = new ExecutionContextHost(args, Handlers, handler);
  context.setType(type);
  return context;
}

describe('an execution context the module cannot serve (an RPC microservice, an unknown transport)', () => {
  let moduleRef: TestingModule;
  let interceptor: SessionStateInterceptor;
  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({ imports: [SessionStateModule.forRoot({})] }).compile();
    await moduleRef.init();
    interceptor = new SessionStateInterceptor(moduleRef.get(SessionStateLifecycle), moduleRef.get(SessionStateBehaviorResolver));
  });
  afterAll(() => moduleRef.close());

  it.each(['rpc', 'kafka-like'])(
    '%s: @Session(), the accessor and the interceptor throw a SessionStateUnsupportedContextError naming it',
    async (type) => {
      const expected = expect.objectContaining({
        name: 'SessionStateUnsupportedContextError',
        contextType: type,
        message: expect.stringMatching(new RegExp(`'${type}' execution context.*SessionStateBehavior.Disabled`)),
      });
      expect(() => sessionFactory(undefined, contextOf(type, Handlers.prototype.withSession))).toThrow(SessionStateUnsupportedContextError);
      await expect(moduleRef.get(SessionStateAccessor).get(contextOf(type, Handlers.prototype.withSession))).rejects.toEqual(expected);
      const handled = interceptor.intercept(contextOf(type, Handlers.prototype.withSession), { handle: () => of('ran') });
      await expect(firstValueFrom(handled)).rejects.toEqual(expected);
    },
  );

  it('the interceptor passes a handler that takes no session through untouched', async () => {
    const handled = interceptor.intercept(contextOf('rpc', Handlers.prototype.without), { handle: () => of('ran') });
    expect(await firstValueFrom(handled)).toBe('ran');
  });

  it('a GraphQL resolver whose context has no HTTP request: a clear error, not a TypeError', () => {
    const context = contextOf('graphql', Handlers.prototype.withSession, [{}, {}, { custom: true }, {}]);
    expect(() => sessionFactory(undefined, context)).toThrow(/no HTTP request in its context \(`req`\)/);
  });
});
