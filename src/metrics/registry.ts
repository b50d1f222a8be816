import { Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric this project exports starts with this (default process metrics included). */
export const METRIC_PREFIX = 'keda_ebpf_';

/**
 * prom-client's default gauges whose names end in _total, a suffix Prometheus reserves for
 * counters (promtool check metrics flags them). Dropped: the same counts, split by type, are
 * in nodejs_active_handles / _requests / _resources.
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** A fresh registry with Node's default process metrics (CPU, memory, event loop, GC), prefixed. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
  return registry;
}
