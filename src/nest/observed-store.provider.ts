import type { Provider } from '@nestjs/common';
import { OBSERVED_SESSION_STATE_STORE } from '../module/session-state.constants.js';
import { SessionStateStore } from '../store/session-state-store.js';
import { reportsConsumedCapacity, withCapacityReport, type ConsumedCapacityReport } from '../observability/consumed-capacity.js';
import { InstrumentedSessionStateStore } from '../observability/instrumented-session-state-store.js';
import { SessionStateMetrics } from '../observability/session-state-metrics.js';
import { StoreFailureLog } from '../observability/store-failure-log.js';

/** The module's observability providers: metrics, the failure log, and the measured store. */
export const observabilityProviders: Provider[] = [
  { provide: SessionStateMetrics, useFactory: () => SessionStateMetrics.create() },
  { provide: StoreFailureLog, useFactory: () => new StoreFailureLog() },
  {
    provide: OBSERVED_SESSION_STATE_STORE,
    useFactory: (store: SessionStateStore, metrics: SessionStateMetrics, failures: StoreFailureLog) => {
      const observed = new InstrumentedSessionStateStore(store, metrics, failures);
      // A store reports the capacity its calls consume (DynamoDB) only when asked; ask only when it is measured.
      // This application's calls run within its report: a store (or client) shared by several
      // applications counts each call once, to the application that made it.
      if (metrics.enabled && reportsConsumedCapacity(store)) {
        const report: ConsumedCapacityReport = (type, units) => metrics.consumedCapacity(type, units);
        observed.onShutdown(store.reportConsumedCapacity(report));
        observed.runCallsWithin((call) => withCapacityReport(report, call));
      }
      return observed;
    },
    inject: [SessionStateStore, SessionStateMetrics, StoreFailureLog],
  },
];
