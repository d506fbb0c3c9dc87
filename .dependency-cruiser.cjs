/**
 * The layer rules of docs/ARCHITECTURE.md, checked by `npm run lint` (and so by `npm test`).
 * Layers from the bottom up; a file may import its own layer and the layers below it, never above.
 */
const LAYERS = ['errors', 'session', 'store', 'observability', 'module', 'cookie', 'lock', 'core', 'transports', 'nest'];

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
    ...LAYERS.slice(0, -1).map((layer, index) => ({
      name: `${layer}-imports-no-layer-above`,
      severity: 'error',
      comment: `Dependencies point down: ${layer}/ may import ${LAYERS.slice(0, index).join(', ') || 'no other layer'}. (The core knows no transport; transports know nothing of nest/.)`,
      from: { path: `^src/${layer}/` },
      to: { path: `^src/(${[...LAYERS.slice(index + 1), 'dynamodb', 'redis', 'testing', 'health'].join('|')})/` },
    })),
    {
      name: 'dynamodb-is-its-own-entry',
      severity: 'error',
      comment: 'Only nestjs-session-state/dynamodb loads the DynamoDB store (and the AWS SDK): an app without it never does.',
      from: { path: '^src/', pathNot: '^src/dynamodb/' },
      to: { path: ['^src/dynamodb/', '^node_modules/@aws-sdk/'] },
    },
    {
      name: 'redis-is-its-own-entry',
      severity: 'error',
      comment: 'Only nestjs-session-state/redis loads the Redis store (and its client library): an app without it never does.',
      from: { path: '^src/', pathNot: '^src/redis/' },
      to: { path: ['^src/redis/', '^node_modules/(redis|ioredis|@redis/[^/]+)/'] },
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
    // src/, and the store SDKs as leaves, so that the entry rules above see who imports them.
    includeOnly: '^(src/|node_modules/(redis|ioredis|@redis/[^/]+|@aws-sdk/[^/]+)/)',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
