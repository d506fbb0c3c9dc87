/**
 * Field resolvers (`@ResolveField`) that take `@Session()` run one at a time in a read-write request
 * only when the GraphQL module runs interceptors on them (`fieldResolverEnhancers: ['interceptors']`,
 * not Nest's default): without, the first GraphQL request's look at the resolvers warns once, naming
 * them (review R20's limit, docs/TRANSPORTS.md). A field resolver declared ReadOnly is not named.
 */
import { Logger } from '@nestjs/common';
import { Field, Int, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from '../../src/index.js';
import { ADAPTERS } from '../support/test-app.js';
import { gql, startGraphQLApp, type GraphQLApp } from './graphql-app.js';

@ObjectType()
class Shelf {
  @Field(() => Int) id!: number;
}

@Resolver(() => Shelf)
class ShelfResolver {
  @Query(() => Shelf)
  shelf(): Shelf {
    return { id: 1 };
  }

  /** Only reads, and says so. */
  @ResolveField(() => Int)
  @SessionState(SessionStateBehavior.ReadOnly)
  seen(@Session() session: HttpSessionState): number {
    return session.get<number>('count') ?? 0;
  }
}

const warnings = () =>
  vi
    .mocked(Logger.prototype.warn)
    .mock.calls.map(([message]) => String(message))
    .filter((message) => message.includes('fieldResolverEnhancers'));

describe.each(ADAPTERS)('field resolvers taking the session, over %s', (adapter) => {
  let g: GraphQLApp | undefined;
  beforeEach(() => {
    vi.spyOn(Logger.prototype, 'warn');
  });
  afterEach(async () => {
    await g?.app.close();
    vi.restoreAllMocks();
  });

  it('without interceptors on field resolvers: one warning at the first request, naming those not declared ReadOnly', async () => {
    g = await startGraphQLApp(adapter, {}, [ShelfResolver]);
    await gql(g.http, { query: '{ counter }' }).expect(200);
    await gql(g.http, { query: '{ counter }' }).expect(200);
    const [warning, ...more] = warnings();
    expect(more).toEqual([]);
    expect(warning).toContain('Profile.visits'); // the fixtures' field resolver that reads, undeclared
    expect(warning).not.toContain('Shelf.seen');
  });

  it('with interceptors on field resolvers: no warning', async () => {
    g = await startGraphQLApp(adapter, {}, [ShelfResolver], { fieldResolverEnhancers: ['interceptors'] });
    await gql(g.http, { query: '{ counter }' }).expect(200);
    expect(warnings()).toEqual([]);
  });
});
