/**
 * The layer rules of docs/ARCHITECTURE.md, checked by `npm run lint` (and so by `npm test`).
 * Bottom to top: errors, session, module, cookie, store, lock, observability, core, transports, nest;
 * the entry points (index, dynamodb, testing, health) on top. An arrow may only point down.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Files that import each other cannot be read, tested or moved one at a time.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-knows-no-transport',
      severity: 'error',
      comment: 'The lifecycle and everything under it serve every transport: they never import one, nor the Nest-facing layer.',
      from: { path: '^src/(core|lock|store|cookie|session|errors|module|observability)/' },
      to: { path: '^src/(transports|nest)/' },
    },
    {
      name: 'transports-below-nest',
      severity: 'error',
      comment: 'A transport turns an execution context into an exchange; the Nest-facing API uses transports, not the other way round.',
      from: { path: '^src/transports/' },
      to: { path: '^src/nest/' },
    },
    {
      name: 'dynamodb-is-its-own-entry',
      severity: 'error',
      comment: 'Only nestjs-session-state/dynamodb loads the DynamoDB store (and the AWS SDK): an app without it never does.',
      from: { path: '^src/', pathNot: '^src/dynamodb/' },
      to: { path: ['^src/dynamodb/', '@aws-sdk/'] },
    },
    {
      name: 'entries-are-not-imported',
      severity: 'error',
      comment: 'Entry points sit on top: library code imports the file it needs, never an index.',
      from: { path: '^src/' },
      to: { path: '^src/(index|[a-z-]+/index)\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
