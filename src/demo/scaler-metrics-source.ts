import { KedaClient, type KedaRef } from '../keda/client.js';
import type { DemoTarget, MetricsSample, MetricsSource } from './types.js';

type TriggerKey = keyof DemoTarget['triggerMetadata'];
const TRIGGERS: readonly TriggerKey[] = ['latencyP50', 'latencyP95', 'latencyP99', 'rps', 'concurrency'];

/**
 * The demo's figures from the real scaler, asked exactly as KEDA asks: GetMetricSpec once
 * per trigger for its metric name, GetMetrics per sample, and `active` from a
 * StreamIsActive subscription (the push KEDA uses to scale from zero at once).
 */
export class ScalerMetricsSource implements MetricsSource {
  private readonly client: KedaClient;
  private refs = new Map<TriggerKey, { ref: KedaRef; metricName: string }>();
  private active = false;
  private stream: ReturnType<KedaClient['streamIsActive']> | undefined;

  constructor(address: string) {
    this.client = new KedaClient(address);
  }

  async prepare(target: DemoTarget): Promise<void> {
    for (const key of TRIGGERS) {
      const ref: KedaRef = { name: `demo-${key.toLowerCase()}`, namespace: 'demo', metadata: target.triggerMetadata[key] };
      this.refs.set(key, { ref, metricName: await this.client.metricName(ref) });
    }
    const rps = this.refs.get('rps')!.ref;
    await new Promise<void>((resolve, reject) => {
      let first = true;
      this.stream = this.client.streamIsActive(
        rps,
        (active) => {
          this.active = active;
          if (first) {
            first = false;
            resolve();
          }
        },
        (err) => {
          if (first) reject(err ?? new Error('StreamIsActive ended before its first message'));
        },
      );
    });
  }

  async sample(): Promise<MetricsSample> {
    // The state at the sample's timestamp, not after the GetMetrics calls return.
    const active = this.active;
    const value = (key: TriggerKey): Promise<number> => {
      const entry = this.refs.get(key);
      if (!entry) throw new Error('prepare() was not called');
      return this.client.metricValue(entry.ref, entry.metricName);
    };
    const [p50Ms, p95Ms, p99Ms, rps, concurrency] = await Promise.all(TRIGGERS.map(value));
    return { active, rps: rps!, p50Ms: p50Ms!, p95Ms: p95Ms!, p99Ms: p99Ms!, concurrency: concurrency! };
  }

  async close(): Promise<void> {
    this.stream?.cancel();
    this.client.close();
  }
}
