import { metrics } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';

/** The OpenTelemetry SDK's pull reader, collected on demand by the test. */
class InMemoryMetricReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface MetricsProbe {
  /**
   * Every series as `name{attr=value,...}`: a counter's sum, a histogram's count (and its sum under
   * `name{...}#sum`). Cumulative since the probe started.
   */
  read(): Promise<Map<string, number>>;
  /** What changed since `before` (series that did not move are left out). */
  since(before: Map<string, number>): Promise<Record<string, number>>;
  /** The names of the instruments of meter `meter` seen so far, with their unit. */
  instruments(meter: string): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/** Registers an SDK meter provider with an in-memory reader as the global one (call before the app starts). */
export function startMetricsProbe(): MetricsProbe {
  const reader = new InMemoryMetricReader();
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  const collect = async () => (await reader.collect()).resourceMetrics.scopeMetrics;
  const read = async () => {
    const series = new Map<string, number>();
    for (const scope of await collect()) {
      for (const metric of scope.metrics) {
        for (const point of metric.dataPoints) {
          const attributes = Object.entries(point.attributes)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(',');
          const key = `${metric.descriptor.name}{${attributes}}`;
          if (metric.dataPointType === DataPointType.HISTOGRAM) {
            const value = point.value as { count: number; sum?: number };
            series.set(key, value.count);
            series.set(`${key}#sum`, value.sum ?? 0);
          } else series.set(key, point.value as number);
        }
      }
    }
    return series;
  };
  return {
    read,
    async since(before) {
      const changed: Record<string, number> = {};
      for (const [key, value] of await read()) {
        if (key.endsWith('#sum')) continue;
        const delta = value - (before.get(key) ?? 0);
        if (delta !== 0) changed[key] = delta;
      }
      return changed;
    },
    async instruments(meter) {
      const found: Record<string, string> = {};
      for (const scope of await collect()) {
        if (scope.scope.name !== meter) continue;
        for (const metric of scope.metrics) found[metric.descriptor.name] = metric.descriptor.unit;
      }
      return found;
    },
    async stop() {
      metrics.disable();
      await provider.shutdown();
    },
  };
}
