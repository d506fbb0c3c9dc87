import { Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import type { INestApplication } from '@nestjs/common';
import { HttpSessionState, Session } from '../../src/index.js';
import { ADAPTERS, sessionCookie } from '../support/test-app.js';
import { gql, startGraphQLApp } from './graphql-app.js';

/** A logging decorator that replaces the method without copying its metadata (a very common shape). */
function Logged(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = function (this: unknown, ...args: unknown[]) {
      return original.apply(this, args);
    };
  };
}

@Resolver()
class WrappedResolver {
  @Query(() => Int)
  @Logged()
  wrappedCount(@Session() session: HttpSessionState): number {
    return session.get<number>('wrapped') ?? 0;
  }

  @Mutation(() => Int)
  @Logged()
  wrappedIncrement(@Session() session: HttpSessionState): number {
    const n = (session.get<number>('wrapped') ?? 0) + 1;
    session.set('wrapped', n);
    return n;
  }
}

describe.each(ADAPTERS)('a resolver whose method a decorator replaced (issue 16, item 7, on GraphQL), on %s', (adapter) => {
  let app: INestApplication;
  afterEach(() => app?.close());

  it('still takes its session: its mutation writes it, its query reads it', async () => {
    ({ app } = await startGraphQLApp(adapter, {}, [WrappedResolver]));
    const http = app.getHttpServer();
    const first = await gql(http, { query: 'mutation { wrappedIncrement }' });
    expect(first.body).toEqual({ data: { wrappedIncrement: 1 } });
    const cookie = sessionCookie(first.headers)!;
    expect(cookie).toBeDefined();
    expect((await gql(http, { query: 'mutation { wrappedIncrement }' }, cookie)).body).toEqual({ data: { wrappedIncrement: 2 } });
    expect((await gql(http, { query: '{ wrappedCount }' }, cookie)).body).toEqual({ data: { wrappedCount: 2 } });
  });
});
