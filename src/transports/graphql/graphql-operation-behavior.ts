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
 * selection set is walked once per type it is reached with (a fragment's once per type condition),
 * however many paths lead to it — an interface field's sub-selection is reached with the field's
 * type, not once per possible type, recursively — and each field of a type is looked up on the
 * type's possible types once, however often it is selected, so the walk is linear in the operation's
 * size whatever its depth, aliases, fragment spreads (cycles included: a batch's other operations are
 * only parsed, not validated) or number of implementing types. Iterative, so no depth can overflow the stack; it stops at `Required`.
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
  const walked = new Map<SelectionSetNode, Set<string>>();
  const pending: { set: SelectionSetNode; type: GraphQLType }[] = [];
  const reach = (set: SelectionSetNode | undefined, type: GraphQLType | null | undefined) => {
    if (!set || typeof type?.name !== 'string') return;
    let types = walked.get(set);
    if (!types) walked.set(set, (types = new Set()));
    if (types.has(type.name)) return;
    types.add(type.name);
    pending.push({ set, type });
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
  // A field of a type, on all its concrete types at once: an operation selects the same field of an
  // interface again and again (aliases, sibling sub-selections), and each time on every implementing
  // type would cost the operation's size times their number. Computed once per (type, field), each
  // selection then costs the same whatever the number of implementing types.
  const fieldReaches = new Map<string, FieldReach>();
  const fieldReachOf = (type: GraphQLType, name: string): FieldReach => {
    const key = `${type.name}.${name}`;
    let field = fieldReaches.get(key);
    if (!field) fieldReaches.set(key, (field = fieldReach(concreteOf(type), name, fields, undeclared)));
    return field;
  };

  reach(
    operation.selectionSet,
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType(),
  );
  for (let next = pending.pop(); next; next = pending.pop()) {
    for (const selection of next.set.selections ?? []) {
      if (selection.kind === 'Field') {
        const field = fieldReachOf(next.type, selection.name.value);
        behavior = strongest(behavior, field.behavior);
        if (behavior === SessionStateBehavior.Required) return behavior;
        for (const type of field.types) reach(selection.selectionSet, type);
      } else if (selection.kind === 'InlineFragment') {
        reach(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : next.type);
      } else {
        const fragment = fragments.get(selection.name.value);
        if (fragment) reach(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
      }
    }
  }
  return behavior;
}

/** What selecting a field of a type reaches, on all its concrete types. */
interface FieldReach {
  /** The strongest behavior of the field's resolvers on those types. */
  behavior: ResolvedBehavior;
  /** The distinct (by name) types its sub-selection is reached with. */
  types: GraphQLType[];
}

function fieldReach(concrete: GraphQLType[], name: string, fields: Map<string, FieldSession>, undeclared: ResolvedBehavior): FieldReach {
  let behavior: ResolvedBehavior = SessionStateBehavior.Disabled;
  const types = new Map<string, GraphQLType>();
  for (const t of concrete) {
    const session = fields.get(`${t.name}.${name}`);
    if (session) behavior = strongest(behavior, session.declared ?? (session.usesSession ? undeclared : SessionStateBehavior.Disabled));
    const type = named(fieldOf(t, name)?.type);
    // A type without a name is never walked (see `reach`); implementations mostly share their field's type.
    if (typeof type?.name === 'string' && !types.has(type.name)) types.set(type.name, type);
  }
  return { behavior, types: [...types.values()] };
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
