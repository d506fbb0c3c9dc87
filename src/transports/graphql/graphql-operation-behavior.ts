import { SessionStateBehavior } from '../../core/session-state-behavior.enum.js';
import type { ResolvedBehavior } from '../../core/session-state-behavior.enum.js';
import type { FieldSession } from './graphql-session-fields.js';

/*
 * The shapes of graphql-js's schema and AST that this module reads, typed here so that the package
 * is never imported to read them.
 */
interface NamedNode {
  name: { value: string };
}
export interface SelectionSetNode {
  selections: readonly SelectionNode[];
}
type SelectionNode =
  | (NamedNode & { kind: 'Field'; selectionSet?: SelectionSetNode })
  | { kind: 'InlineFragment'; typeCondition?: NamedNode; selectionSet: SelectionSetNode }
  | (NamedNode & { kind: 'FragmentSpread' });
export interface OperationNode {
  kind: 'OperationDefinition';
  operation: 'query' | 'mutation' | 'subscription';
  name?: { value: string };
  selectionSet: SelectionSetNode;
}
interface FragmentNode extends NamedNode {
  kind: 'FragmentDefinition';
  typeCondition: NamedNode;
  selectionSet: SelectionSetNode;
}
export interface DocumentNode {
  definitions: readonly { kind: string }[];
}
interface GraphQLType {
  name?: string;
  ofType?: GraphQLType;
  getFields?(): Record<string, { type: GraphQLType }>;
}
export interface GraphQLSchemaLike {
  getQueryType(): GraphQLType | null | undefined;
  getMutationType(): GraphQLType | null | undefined;
  getSubscriptionType(): GraphQLType | null | undefined;
  getType(name: string): GraphQLType | null | undefined;
  getPossibleTypes?(type: never): readonly GraphQLType[];
  getTypeMap?(): Record<string, GraphQLType>;
}

/** Every field name the schema defines, by schema (computed once). */
const fieldNamesOf = new WeakMap<GraphQLSchemaLike, ReadonlySet<string>>();

/**
 * Whether some type of the schema has a field of this name (absent `getTypeMap`: assumed). A name no
 * type has reaches nothing and runs no resolver: it costs one look-up here, not one per implementing
 * type of the interface it is selected on (a batch's other operations are not validated before the walk).
 */
function schemaHasField(schema: GraphQLSchemaLike, name: string): boolean {
  if (!schema.getTypeMap) return true;
  let names = fieldNamesOf.get(schema);
  if (!names) {
    const all = new Set<string>();
    for (const type of Object.values(schema.getTypeMap())) for (const field of Object.keys(type.getFields?.() ?? {})) all.add(field);
    fieldNamesOf.set(schema, (names = all));
  }
  return names.has(name);
}

/** The operation a request runs: the one named, or the document's only one. */
export function selectOperation(document: DocumentNode, operationName?: string | null): OperationNode | undefined {
  const operations = document.definitions.filter((d): d is OperationNode => d.kind === 'OperationDefinition');
  if (!operationName) return operations.length === 1 ? operations[0] : undefined;
  return operations.find((o) => o.name?.value === operationName);
}

const RANK: Record<ResolvedBehavior, number> = {
  [SessionStateBehavior.Disabled]: 0,
  [SessionStateBehavior.ReadOnly]: 1,
  [SessionStateBehavior.Required]: 2,
};

/** The stronger of two behaviors (Required > ReadOnly > Disabled). */
export function strongest(a: ResolvedBehavior, b: ResolvedBehavior): ResolvedBehavior {
  return RANK[a] >= RANK[b] ? a : b;
}

/**
 * The behavior of one GraphQL operation, from the resolvers it can reach (root fields and field
 * resolvers, through fragments, on every possible type of an interface or union):
 * - a resolver's own `@SessionState()` (method, else class) counts as declared;
 * - a resolver that takes `@Session()` without a declaration counts as `Required` in a mutation and
 *   `ReadOnly` in a query (a query takes no lock unless one of its resolvers declares `Required`);
 * - the operation takes the strongest; Disabled (no store call) when none uses the session.
 *
 * The operation is the client's: the walk must cost no more than the server's own parsing. Each
 * selection set is walked once per group of types it is reached with (a fragment's once per type
 * condition), however many paths lead to it — an interface field's sub-selection is reached with the
 * field's types on the interface and its implementations as one group, not once per possible type,
 * recursively — and each field of a group is looked up on the group's possible types once, however
 * often it is selected. So the walk is linear in the operation's size whatever its depth, aliases,
 * fragment spreads (cycles included: a batch's other operations are only parsed, not validated) or
 * number of implementing types; only each distinct field name costs one look-up per possible type.
 * Iterative, so no depth can overflow the stack; it stops at `Required`.
 */
export function operationBehavior(
  schema: GraphQLSchemaLike,
  document: DocumentNode,
  operation: OperationNode,
  fields: Map<string, FieldSession>,
): ResolvedBehavior {
  if (fields.size === 0) return SessionStateBehavior.Disabled;
  const undeclared = operation.operation === 'mutation' ? SessionStateBehavior.Required : SessionStateBehavior.ReadOnly;
  const fragments = new Map<string, FragmentNode>();
  for (const d of document.definitions) {
    const fragment = d as FragmentNode;
    if (d.kind === 'FragmentDefinition' && !fragments.has(fragment.name.value)) fragments.set(fragment.name.value, fragment);
  }
  let behavior: ResolvedBehavior = SessionStateBehavior.Disabled;
  const walked = new Map<SelectionSetNode, Set<TypeGroup>>();
  const pending: { set: SelectionSetNode; group: TypeGroup }[] = [];
  const reach = (set: SelectionSetNode | undefined, group: TypeGroup | undefined) => {
    if (!set || !group) return;
    let groups = walked.get(set);
    if (!groups) walked.set(set, (groups = new Set()));
    if (groups.has(group)) return;
    groups.add(group);
    pending.push({ set, group });
  };
  // An interface or a union: the resolver that runs is the one of the object type (or one declared
  // on the interface itself).
  const concreteTypes = new Map<string, GraphQLType[]>();
  const concreteOf = (type: GraphQLType): GraphQLType[] => {
    let concrete = concreteTypes.get(type.name!);
    if (!concrete) {
      concrete = isAbstract(type) && schema.getPossibleTypes ? [type, ...schema.getPossibleTypes(type as never)] : [type];
      concreteTypes.set(type.name!, concrete);
    }
    return concrete;
  };
  // One group per set of types (by name), so that a selection set is walked once per group.
  const groups = new Map<string, TypeGroup>();
  const groupOf = (types: readonly (GraphQLType | null | undefined)[]): TypeGroup | undefined => {
    const members = distinctByName(types.filter((t): t is GraphQLType => typeof t?.name === 'string'));
    if (members.length === 0) return undefined;
    const key = members
      .map((t) => t.name!)
      .sort()
      .join(',');
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { concrete: distinctByName(members.flatMap(concreteOf)), fields: new Map() }));
    return group;
  };
  // A field of a group, on all its concrete types at once: an operation selects the same field of an
  // interface again and again (aliases, sibling sub-selections), and each time on every implementing
  // type would cost the operation's size times their number. Computed once per (group, field), each
  // selection then costs the same whatever the number of implementing types.
  const fieldReachOf = (group: TypeGroup, name: string): FieldReach => {
    let field = group.fields.get(name);
    if (!field && !schemaHasField(schema, name)) group.fields.set(name, (field = { behavior: SessionStateBehavior.Disabled, children: undefined }));
    if (!field) {
      const { behavior, types } = fieldOn(group.concrete, name, fields, undeclared);
      group.fields.set(name, (field = { behavior, children: groupOf(types) }));
    }
    return field;
  };
  const rootType =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();

  reach(operation.selectionSet, groupOf([rootType]));
  for (let next = pending.pop(); next; next = pending.pop()) {
    for (const selection of next.set.selections ?? []) {
      if (selection.kind === 'Field') {
        const field = fieldReachOf(next.group, selection.name.value);
        behavior = strongest(behavior, field.behavior);
        if (behavior === SessionStateBehavior.Required) return behavior;
        reach(selection.selectionSet, field.children);
      } else if (selection.kind === 'InlineFragment') {
        reach(selection.selectionSet, selection.typeCondition ? groupOf([schema.getType(selection.typeCondition.name.value)]) : next.group);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment) reach(fragment.selectionSet, groupOf([schema.getType(fragment.typeCondition.name.value)]));
      }
    }
  }
  return behavior;
}

/**
 * Types a selection set is reached with together (an interface field's sub-selection: the field's
 * types on the interface and on each implementation, which may differ). Walked once as a group, the
 * set finds what it would walked once per type, at the cost of one walk.
 */
interface TypeGroup {
  /** The members' concrete types (see `concreteOf`), distinct. */
  concrete: GraphQLType[];
  /** What selecting a field reaches from the group, by field name, once computed. */
  fields: Map<string, FieldReach>;
}

/** What selecting a field of a group reaches. */
interface FieldReach {
  /** The strongest behavior of the field's resolvers on the group's concrete types. */
  behavior: ResolvedBehavior;
  /** The types its sub-selection is reached with, if any. */
  children: TypeGroup | undefined;
}

/** A field on concrete types: the strongest behavior of its resolvers, and its (named) types on them. */
function fieldOn(
  concrete: GraphQLType[],
  name: string,
  fields: Map<string, FieldSession>,
  undeclared: ResolvedBehavior,
): { behavior: ResolvedBehavior; types: (GraphQLType | undefined)[] } {
  let behavior: ResolvedBehavior = SessionStateBehavior.Disabled;
  const types: (GraphQLType | undefined)[] = [];
  for (const t of concrete) {
    const session = fields.get(`${t.name}.${name}`);
    if (session) behavior = strongest(behavior, session.declared ?? (session.usesSession ? undeclared : SessionStateBehavior.Disabled));
    types.push(named(fieldOf(t, name)?.type));
  }
  return { behavior, types };
}

function distinctByName(types: GraphQLType[]): GraphQLType[] {
  return [...new Map(types.map((t) => [t.name, t])).values()];
}

/** A type's field by name (own fields only: a client's field name may be `constructor`). */
function fieldOf(type: GraphQLType, name: string): { type: GraphQLType } | undefined {
  const fields = type.getFields?.();
  return fields && Object.hasOwn(fields, name) ? fields[name] : undefined;
}

function named(type: GraphQLType | undefined): GraphQLType | undefined {
  while (type?.ofType) type = type.ofType;
  return type;
}

/** An interface or a union (graphql-js gives both, and only them, a `resolveType`). */
function isAbstract(type: GraphQLType): boolean {
  return 'resolveType' in type;
}
