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
  for (const d of document.definitions) if (d.kind === 'FragmentDefinition') fragments.set((d as FragmentNode).name.value, d as FragmentNode);
  let behavior: ResolvedBehavior = SessionStateBehavior.Disabled;
  const visited = new Set<string>();

  const visit = (typeName: string, field: string) => {
    const session = fields.get(`${typeName}.${field}`);
    if (!session) return;
    behavior = strongest(behavior, session.declared ?? (session.usesSession ? undeclared : SessionStateBehavior.Disabled));
  };
  const walk = (set: SelectionSetNode, type: GraphQLType | null | undefined) => {
    if (!type?.name) return;
    // An interface or a union: the resolver that runs is the one of the object type.
    const concrete = isAbstract(type) && schema.getPossibleTypes ? [type, ...schema.getPossibleTypes(type as never)] : [type];
    for (const selection of set.selections) {
      if (selection.kind === 'Field') {
        for (const t of concrete) visit(t.name!, selection.name.value);
        if (!selection.selectionSet) continue;
        for (const t of concrete) walk(selection.selectionSet, named(t.getFields?.()[selection.name.value]?.type));
      } else if (selection.kind === 'InlineFragment') {
        walk(selection.selectionSet, selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : type);
      } else {
        const fragment = fragments.get(selection.name.value);
        const key = `${selection.name.value}@${type.name}`;
        if (!fragment || visited.has(key)) continue;
        visited.add(key);
        walk(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
      }
    }
  };
  const root =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  walk(operation.selectionSet, root);
  return behavior;
}

function named(type: GraphQLType | undefined): GraphQLType | undefined {
  while (type?.ofType) type = type.ofType;
  return type;
}

/** An interface or a union (graphql-js gives both, and only them, a `resolveType`). */
function isAbstract(type: GraphQLType): boolean {
  return 'resolveType' in type;
}
