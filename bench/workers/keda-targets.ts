import type { KedaRef } from '../../src/keda/client.js';

/** The benchmark's N targets: trigger metadata KEDA would send for ScaledObject i. */
export function kedaTargetRef(i: number): KedaRef {
  return {
    name: `bench-${i}`,
    namespace: 'bench',
    metadata: { scalerAddress: 'bench:9090', port: String(10_000 + i), metric: 'latency', quantile: '0.95', targetValue: '100' },
  };
}
