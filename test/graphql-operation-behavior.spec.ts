import { buildSchema, parse, type GraphQLSchema } from 'graphql';
import {
  operationBehavior,
  selectOperation,
  type DocumentNode,
  type GraphQLSchemaLike,
  type OperationNode,
} from '../src/transports/graphql/graphql-operation-behavior.js';
import type { FieldSession } from '../src/transports/graphql/graphql-session-fields.js';
import { SessionStateBehavior } from '../src/core/session-state-behavior.enum.js';

/** The schema of issue 16: an interface whose field returns the interface, 5 implementing types. */
const NODE_TYPES = ['A', 'B', 'C', 'D', 'E'];
const NODE_SCHEMA = buildSchema(`
  interface Node { id: ID! children: [Node!]! }
  ${NODE_TYPES.map((t) => `type ${t} implements Node { id: ID! children: [Node!]! ${t.toLowerCase()}: Int }`).join('\n')}
  union Any = ${NODE_TYPES.join(' | ')}
  type Query { nodes: [Node!]! any: [Any!]! me: String }
  type Mutation { touch: Int }
`);

/** The resolvers' session use, counting every lookup: the walk's visits of a (type, field). */
class CountingFields extends Map<string, FieldSession> {
  lookups = 0;
  override get(key: string): FieldSession | undefined {
    this.lookups++;
    return super.get(key);
  }
}
const usesSession: FieldSession = { usesSession: true };

function behaviorOf(query: string, fields: Map<string, FieldSession>, schema: GraphQLSchema = NODE_SCHEMA) {
  const document = parse(query) as unknown as DocumentNode;
  const operation = selectOperation(document) as OperationNode;
  return operationBehavior(schema as unknown as GraphQLSchemaLike, document, operation, fields);
}

/** `{ nodes { children { … depth times … id } } }` */
const deepQuery = (depth: number) => `{ nodes { ${'children { '.repeat(depth)}id${' }'.repeat(depth)} } }`;

describe('the GraphQL operation walk (the behavior of an operation)', () => {
  it('finds a session resolver on an implementing type, an interface, through fragments and unions', () => {
    const fieldOfA = new Map([['A.a', usesSession]]);
    expect(behaviorOf('{ nodes { id } }', fieldOfA)).toBe(SessionStateBehavior.Disabled);
    expect(behaviorOf('{ nodes { children { a: id } } }', fieldOfA)).toBe(SessionStateBehavior.Disabled);
    expect(behaviorOf('{ nodes { children { ... on A { a } } } }', fieldOfA)).toBe(SessionStateBehavior.ReadOnly);
    expect(behaviorOf('{ nodes { ...F } } fragment F on Node { children { ...G } } fragment G on A { a }', fieldOfA)).toBe(
      SessionStateBehavior.ReadOnly,
    );
    expect(behaviorOf('{ any { ... on Node { children { ... on A { a } } } } }', fieldOfA)).toBe(SessionStateBehavior.ReadOnly);
    expect(behaviorOf('mutation { touch }', new Map([['Mutation.touch', usesSession]]))).toBe(SessionStateBehavior.Required);
    // A field resolver declared on the interface (code-first `@Resolver(() => Node)`).
    expect(behaviorOf('{ nodes { children { id } } }', new Map([['Node.id', usesSession]]))).toBe(SessionStateBehavior.ReadOnly);
    // A resolver on a concrete type, reached through the interface's field.
    expect(behaviorOf(deepQuery(12), new Map([['C.id', { usesSession: false, declared: SessionStateBehavior.Required }]]))).toBe(
      SessionStateBehavior.Required,
    );
  });

  it('is linear in the size of the operation: a 9-level query on an interface with 5 types looks up each (type, field) of it once', () => {
    const fields = new CountingFields([['Query.me', usesSession]]);
    expect(behaviorOf(deepQuery(9), fields)).toBe(SessionStateBehavior.Disabled);
    // The root field, then `children` and `id` of Node, each looked up on the interface and its 5 types
    // once however often selected (the first unfixed walk: (1 + 5)^depth, 10 million lookups and seconds
    // of a blocked event loop; the next: 1 + (depth + 1) * (1 + 5)).
    expect(fields.lookups).toBe(1 + 2 * (1 + NODE_TYPES.length));
    const deeper = new CountingFields([['Query.me', usesSession]]);
    behaviorOf(deepQuery(90), deeper);
    expect(deeper.lookups).toBe(1 + 2 * (1 + NODE_TYPES.length));
  });

  it('costs each selection the same whatever the number of implementing types: a field of an interface is looked up on them once', () => {
    /**
     * An interface with `count` implementing types, selected `aliases` times: `{ nodes { a0: children { id } … } }`;
     * covariant: each type's `children` is a list of its own type (the sub-selection is reached with all of them).
     */
    const lookups = (count: number, aliases: number, covariant = false) => {
      const types = Array.from({ length: count }, (_, i) => `type T${i} implements Node { id: ID! children: [${covariant ? `T${i}` : 'Node'}!]! }`);
      const schema = buildSchema(`interface Node { id: ID! children: [Node!]! } ${types.join('\n')} type Query { nodes: [Node!]! me: String }`);
      const query = `{ nodes { ${Array.from({ length: aliases }, (_, i) => `a${i}: children { id }`).join(' ')} } }`;
      const fields = new CountingFields([['Query.me', usesSession]]);
      expect(behaviorOf(query, fields, schema)).toBe(SessionStateBehavior.Disabled);
      return fields.lookups;
    };
    for (const count of [5, 500]) {
      for (const covariant of [false, true]) {
        // The root field, then `children` and `id` on the interface and its types, once each: the
        // 1 999 other selections cost no lookup (the unfixed walk: 2 * (1 + count) each, 2 million for 500 types).
        expect(lookups(count, 1, covariant)).toBe(1 + 2 * (1 + count));
        expect(lookups(count, 2000, covariant)).toBe(lookups(count, 1, covariant));
      }
    }
  });

  it('a field name no type of the schema has costs no lookup, whatever the number of implementing types (a batch is walked before validation)', () => {
    const types = Array.from({ length: 500 }, (_, i) => `type T${i} implements Node { id: ID! children: [Node!]! }`);
    const schema = buildSchema(`interface Node { id: ID! children: [Node!]! } ${types.join('\n')} type Query { nodes: [Node!]! me: String }`);
    const unknown = new CountingFields([['Query.me', usesSession]]);
    const query = `{ nodes { ${Array.from({ length: 5000 }, (_, i) => `u${i} { x }`).join(' ')} } }`;
    expect(behaviorOf(query, unknown, schema)).toBe(SessionStateBehavior.Disabled);
    expect(unknown.lookups).toBe(1); // the root field only (the unfixed walk: 501 per name, 2.5 million)
  });

  it('reaches a sub-selection with the field type of every implementing type at once, when they differ', () => {
    const schema = buildSchema(`
      interface Node { id: ID! children: [Node!]! }
      type A implements Node { id: ID! children: [A!]! a: Int }
      type B implements Node { id: ID! children: [B!]! b: Int }
      type Query { nodes: [Node!]! }
    `);
    expect(behaviorOf('{ nodes { children { ... on B { b } } } }', new Map([['B.b', usesSession]]), schema)).toBe(SessionStateBehavior.ReadOnly);
    expect(behaviorOf('{ nodes { children { children { id } } } }', new Map([['A.id', usesSession]]), schema)).toBe(SessionStateBehavior.ReadOnly);
    expect(behaviorOf('{ nodes { children { id } } }', new Map([['A.a', usesSession]]), schema)).toBe(SessionStateBehavior.Disabled);
  });

  it('stops as soon as the answer is Required', () => {
    const fields = new CountingFields([['Query.nodes', { usesSession: false, declared: SessionStateBehavior.Required }]]);
    expect(behaviorOf(`{ nodes { ${'children { '.repeat(50)}id${' }'.repeat(50)} } }`, fields)).toBe(SessionStateBehavior.Required);
    expect(fields.lookups).toBe(1);
  });

  it('walks a fragment spread many times, or in a cycle, once per type', () => {
    // Each fragment spreads the next one twice, 30 deep: 2^30 paths, 31 selection sets.
    const chain = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Node { children { ...F${i + 1} ...F${i + 1} } id }`).join('\n');
    const fields = new CountingFields([['Query.me', usesSession]]);
    expect(behaviorOf(`{ nodes { ...F0 } } ${chain} fragment F30 on Node { id }`, fields)).toBe(SessionStateBehavior.Disabled);
    expect(fields.lookups).toBeLessThanOrEqual(1 + 31 * 2 * (1 + NODE_TYPES.length));
    // Cycles (the server refuses them at validation; a batch's other operations are only parsed).
    const cycle = new CountingFields([['A.a', usesSession]]);
    expect(behaviorOf('{ nodes { ...X } } fragment X on Node { ...Y children { ...X } } fragment Y on Node { ...X ... on A { a } }', cycle)).toBe(
      SessionStateBehavior.ReadOnly,
    );
    expect(behaviorOf('{ nodes { ...X } } fragment X on Node { ...X }', new Map([['A.a', usesSession]]))).toBe(SessionStateBehavior.Disabled);
  });

  it('neither throws nor hangs on a hostile operation: huge depth, many aliases, unknown names', () => {
    // 100 000 levels: deeper than any call stack (built as an AST: graphql's parser recurses).
    let set: object = { selections: [{ kind: 'Field', name: { value: 'id' } }] };
    for (let i = 0; i < 100_000; i++) set = { selections: [{ kind: 'Field', name: { value: 'children' }, selectionSet: set }] };
    const deep = {
      kind: 'OperationDefinition',
      operation: 'query',
      selectionSet: { selections: [{ kind: 'Field', name: { value: 'nodes' }, selectionSet: set }] },
    };
    const fields = new CountingFields([['A.a', usesSession]]);
    expect(operationBehavior(NODE_SCHEMA as unknown as GraphQLSchemaLike, { definitions: [deep] }, deep as OperationNode, fields)).toBe(
      SessionStateBehavior.Disabled,
    );
    expect(fields.lookups).toBe(1 + 2 * (1 + NODE_TYPES.length));

    // 2 000 aliases, each with a 5-level sub-selection.
    const aliases = Array.from({ length: 2000 }, (_, i) => `n${i}: nodes { ${'children { '.repeat(5)}id${' }'.repeat(5)} }`).join(' ');
    const many = new CountingFields([['Query.me', usesSession]]);
    expect(behaviorOf(`{ ${aliases} }`, many)).toBe(SessionStateBehavior.Disabled);
    expect(many.lookups).toBe(1 + 2 * (1 + NODE_TYPES.length));

    // Not validated (another operation of a batch): unknown fields, types and fragments, a selection on a scalar, odd names.
    const odd =
      '{ nodes { nope { x } id { y } ... on Nope { z } ...Missing ... on A { constructor { a } __proto__ { a } } } __typename } fragment G on Nope { a }';
    expect(behaviorOf(odd, new Map([['A.a', usesSession]]))).toBe(SessionStateBehavior.Disabled);
  });
});

/** A schema with every root type, an object type reached through plain fields, and a union of unrelated types. */
const APP_SCHEMA = buildSchema(`
  interface Node { id: ID! }
  type User implements Node { id: ID! name: String cart: Cart }
  type Cart { total: Int }
  type Guest { visits: Int }
  union Visitor = User | Guest
  type Query { me: User visitor: Visitor node: Node ping: String }
  type Mutation { login: User logout: Boolean }
  type Subscription { cartChanged: Cart }
`);
const QUERY_ONLY_SCHEMA = buildSchema('type Query { me: String }');

const { Disabled, ReadOnly, Required } = SessionStateBehavior;
const uses: FieldSession = { usesSession: true };
const declares = (declared: FieldSession['declared'], usesSession = false): FieldSession => ({ usesSession, declared });

describe('the GraphQL operation walk, branch by branch', () => {
  const cases: [string, string, [string, FieldSession][], typeof Disabled | typeof ReadOnly | typeof Required, GraphQLSchema?][] = [
    // No resolver uses the session: no walk at all.
    ['no session resolvers, even in a mutation', 'mutation { login { id } }', [], Disabled],
    // Root fields of each operation type; a resolver without a declaration: Required in a mutation, else ReadOnly.
    ['a query root field', '{ me { id } }', [['Query.me', uses]], ReadOnly],
    ['a query root field not selected', '{ ping }', [['Query.me', uses]], Disabled],
    ['a mutation root field', 'mutation { logout }', [['Mutation.logout', uses]], Required],
    ['a mutation, another field uses the session', 'mutation { logout }', [['Mutation.login', uses]], Disabled],
    ['a subscription root field', 'subscription { cartChanged { total } }', [['Subscription.cartChanged', uses]], ReadOnly],
    ['a subscription does not read the query type', 'subscription { cartChanged { total } }', [['Query.cartChanged', uses]], Disabled],
    ['a field resolver under a subscription', 'subscription { cartChanged { total } }', [['Cart.total', uses]], ReadOnly],
    ['a field resolver under a mutation: Required', 'mutation { login { cart { total } } }', [['Cart.total', uses]], Required],
    ['a mutation on a schema without one', 'mutation { me }', [['Query.me', uses]], Disabled, QUERY_ONLY_SCHEMA],
    ['a subscription on a schema without one', 'subscription { me }', [['Query.me', uses]], Disabled, QUERY_ONLY_SCHEMA],
    // Declared behaviours win over the default, in both directions, and the operation takes the strongest.
    ['a query field declared Required', '{ ping }', [['Query.ping', declares(Required)]], Required],
    ['a mutation field declared ReadOnly', 'mutation { logout }', [['Mutation.logout', declares(ReadOnly, true)]], ReadOnly],
    ['a mutation field declared Disabled', 'mutation { logout }', [['Mutation.logout', declares(Disabled, true)]], Disabled],
    ['a field resolver declared Disabled under a query', '{ me { name } }', [['User.name', declares(Disabled, true)]], Disabled],
    [
      'ReadOnly and Disabled: ReadOnly',
      '{ me { name } ping }',
      [
        ['Query.ping', uses],
        ['User.name', declares(Disabled, true)],
      ],
      ReadOnly,
    ],
    [
      'ReadOnly and Required: Required',
      '{ ping me { name } }',
      [
        ['Query.ping', uses],
        ['User.name', declares(Required)],
      ],
      Required,
    ],
    ['a resolver with neither @Session() nor a declaration', '{ ping }', [['Query.ping', { usesSession: false }]], Disabled],
    // Object types reached through fields (lists and non-null unwrapped).
    ['a field resolver two levels down', '{ me { cart { total } } }', [['Cart.total', uses]], ReadOnly],
    ['a field resolver on a type not reached', '{ me { name } }', [['Cart.total', uses]], Disabled],
    // Fragments: spreads (at the root too), inline fragments with and without a type condition.
    ['a fragment spread at the root of a mutation', 'mutation { ...M } fragment M on Mutation { logout }', [['Mutation.logout', uses]], Required],
    ['a fragment spread on an object type', '{ me { ...U } } fragment U on User { cart { total } }', [['Cart.total', uses]], ReadOnly],
    ['an inline fragment without a type condition', '{ me { ... { name } } }', [['User.name', uses]], ReadOnly],
    ['an inline fragment at the root', '{ ... on Query { me { name } } }', [['User.name', uses]], ReadOnly],
    [
      'a fragment defined twice: the first counts',
      '{ me { ...U } } fragment U on User { id } fragment U on User { name }',
      [['User.name', uses]],
      Disabled,
    ],
    // Interfaces and unions: the resolvers of every possible type, and those declared on the interface.
    ['an interface field, resolver on the implementing type', '{ node { id } }', [['User.id', uses]], ReadOnly],
    ['an interface field, resolver on the interface', '{ node { id } }', [['Node.id', uses]], ReadOnly],
    ['an inline fragment on an implementing type', '{ node { ... on User { name } } }', [['User.name', uses]], ReadOnly],
    ['a union, inline fragment on a member', '{ visitor { ... on Guest { visits } } }', [['Guest.visits', uses]], ReadOnly],
    ['a union, inline fragment on another member', '{ visitor { ... on Guest { visits } } }', [['User.name', uses]], Disabled],
    ['a union, inline fragment on an interface of a member', '{ visitor { ... on Node { id } } }', [['User.id', uses]], ReadOnly],
    [
      'a union, fragment spread on the union',
      '{ visitor { ...V } } fragment V on Visitor { ... on User { cart { total } } }',
      [['Cart.total', uses]],
      ReadOnly,
    ],
    [
      'a union, __typename only',
      '{ visitor { __typename } }',
      [
        ['Guest.visits', uses],
        ['User.name', uses],
      ],
      Disabled,
    ],
    // Introspection: no resolver of the application runs.
    [
      '__schema',
      '{ __schema { types { name fields { name } } } }',
      [
        ['Query.me', uses],
        ['User.name', uses],
      ],
      Disabled,
    ],
    ['__type', '{ __type(name: "User") { name fields { name } } }', [['User.name', uses]], Disabled],
    ['__typename at the root of a mutation', 'mutation { __typename }', [['Mutation.logout', uses]], Disabled],
    ['introspection beside a session field', '{ __typename me { __typename name } }', [['User.name', uses]], ReadOnly],
  ];

  it.each(cases)('%s', (_, query, fields, expected, schema = APP_SCHEMA) => {
    expect(behaviorOf(query, new Map(fields), schema)).toBe(expected);
  });

  it('walks the operation the request names, or the only one; none when ambiguous or unknown', () => {
    const document = parse('query Read { me { name } } mutation Write { logout }') as unknown as DocumentNode;
    expect(selectOperation(document, 'Read')?.operation).toBe('query');
    expect(selectOperation(document, 'Write')?.operation).toBe('mutation');
    expect(selectOperation(document, 'Other')).toBeUndefined();
    expect(selectOperation(document)).toBeUndefined();
    expect(selectOperation(document, null)).toBeUndefined();
    const single = parse('mutation { logout } fragment U on User { id }') as unknown as DocumentNode;
    expect(selectOperation(single)?.operation).toBe('mutation');
    expect(selectOperation(single, 'Write')).toBeUndefined();
  });

  it("without getPossibleTypes (a schema-like object), only the abstract type's own resolvers are found", () => {
    const bare: GraphQLSchemaLike = {
      getQueryType: () => APP_SCHEMA.getQueryType(),
      getMutationType: () => APP_SCHEMA.getMutationType(),
      getSubscriptionType: () => APP_SCHEMA.getSubscriptionType(),
      getType: (name) => APP_SCHEMA.getType(name) as never,
    };
    const walk = (query: string, fields: [string, FieldSession][]) => {
      const document = parse(query) as unknown as DocumentNode;
      return operationBehavior(bare, document, selectOperation(document)!, new Map(fields));
    };
    expect(walk('{ node { id } }', [['Node.id', uses]])).toBe(ReadOnly);
    expect(walk('{ node { id } }', [['User.id', uses]])).toBe(Disabled);
    expect(walk('{ node { ... on User { id } } }', [['User.id', uses]])).toBe(ReadOnly);
  });
});
