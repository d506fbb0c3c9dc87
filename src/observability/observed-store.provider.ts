import type { Provider } from '@nestjs/common';
import { OBSERVED_SESSION_STATE_STORE } from '../module/session-state.constants.js';
import { DynamoDBSessionStateStore } from '../dynamodb/dynamodb-session-state.store.js';
import { countConsumedCapacity } from '../dynamodb/dynamodb-consumed-capacity.middleware.js';
import { SessionStateStore } from '../store/session-state-store.js';
import { InstrumentedSessionStateStore } from './instrumented-session-state-store.js';
import { SessionStateMetrics } from './session-state-metrics.js';
import { StoreFailureLog } from './store-failure-log.js';

/** The module's observability providers: metrics, the failure log, and the measured store. */
export const observabilityProviders: Provider[] = [
  { provide: SessionStateMetrics, useFactory: () => SessionStateMetrics.create() },
  { provide: StoreFailureLog, useFactory: () => new StoreFailureLog() },
  {
    provide: OBSERVED_SESSION_STATE_STORE,
    useFactory: (store: SessionStateStore, metrics: SessionStateMetrics, failures: StoreFailureLog) => {
      const observed = new InstrumentedSessionStateStore(store, metrics, failures);
      // DynamoDB reports the capacity each call consumed only when asked; ask only when it is measured.
      if (metrics.enabled && store instanceof DynamoDBSessionStateStore) {
        observed.onShutdown(countConsumedCapacity(store.client, store.tableName, metrics));
      }
      return observed;
    },
    inject: [SessionStateStore, SessionStateMetrics, StoreFailureLog],
  },
];
