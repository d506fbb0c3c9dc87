/**
 * `nestjs-session-state/dynamodb`: the DynamoDB store. A separate entry point, so that an
 * application on another store never installs or loads `@aws-sdk/client-dynamodb` (an optional
 * peer dependency).
 */
export { DynamoDBSessionStateStore } from './dynamodb-session-state.store.js';
export type { DynamoDBSessionStateStoreOptions } from './dynamodb-session-state-store.options.js';
