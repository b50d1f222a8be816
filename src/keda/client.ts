import * as grpc from '@grpc/grpc-js';
import type { ExternalScalerClient } from '../proto/generated/externalscaler/ExternalScaler.js';
import type { GetMetricSpecResponse__Output } from '../proto/generated/externalscaler/GetMetricSpecResponse.js';
import type { GetMetricsResponse__Output } from '../proto/generated/externalscaler/GetMetricsResponse.js';
import type { IsActiveResponse__Output } from '../proto/generated/externalscaler/IsActiveResponse.js';
import { loadExternalScaler } from '../proto/load.js';

/**
 * A promise-shaped ExternalScaler client that calls the scaler the way the KEDA operator
 * does (demo, benchmarks and end-to-end tests; `query` prints raw responses instead).
 */
export class KedaClient {
  readonly raw: ExternalScalerClient;

  constructor(address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.raw = new (loadExternalScaler().externalscaler.ExternalScaler)(address, credentials);
  }

  async isActive(ref: KedaRef, timeoutMs = 3000): Promise<boolean> {
    const res = await this.unary<IsActiveResponse__Output>((cb) => this.raw.IsActive(toRef(ref), { deadline: Date.now() + timeoutMs }, cb));
    return res.result;
  }

  /** The single metric name GetMetricSpec announces for this trigger. */
  async metricName(ref: KedaRef, timeoutMs = 3000): Promise<string> {
    const res = await this.unary<GetMetricSpecResponse__Output>((cb) => this.raw.GetMetricSpec(toRef(ref), { deadline: Date.now() + timeoutMs }, cb));
    const name = res.metricSpecs[0]?.metricName;
    if (name === undefined) throw new Error('GetMetricSpec returned no metric spec');
    return name;
  }

  /** GetMetrics' single value (the float field). */
  async metricValue(ref: KedaRef, metricName: string, timeoutMs = 3000): Promise<number> {
    const res = await this.unary<GetMetricsResponse__Output>((cb) => this.raw.GetMetrics({ scaledObjectRef: toRef(ref), metricName }, { deadline: Date.now() + timeoutMs }, cb));
    const value = res.metricValues[0];
    if (!value) throw new Error(`GetMetrics returned no value for ${metricName}`);
    return value.metricValueFloat;
  }

  /** Opens StreamIsActive; `onResult` gets each pushed state. Cancel the returned call to stop. */
  streamIsActive(ref: KedaRef, onResult: (active: boolean) => void, onEnd?: (err?: grpc.ServiceError) => void): grpc.ClientReadableStream<IsActiveResponse__Output> {
    const call = this.raw.StreamIsActive(toRef(ref));
    call.on('data', (msg: IsActiveResponse__Output) => onResult(msg.result));
    call.on('error', (err: grpc.ServiceError) => onEnd?.(err));
    call.on('end', () => onEnd?.());
    return call;
  }

  close(): void {
    this.raw.close();
  }

  private unary<T>(start: (cb: (err: grpc.ServiceError | null, res?: T) => void) => unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      start((err, res) => (err ? reject(err) : res === undefined ? reject(new Error('empty response')) : resolve(res)));
    });
  }
}

export interface KedaRef {
  readonly name: string;
  readonly namespace: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** The wire form of a KedaRef (ScaledObjectRef). */
export function toRef(ref: KedaRef) {
  return { name: ref.name, namespace: ref.namespace, scalerMetadata: { ...ref.metadata } };
}
