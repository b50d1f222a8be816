import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TokenFileAuthenticator } from '../../src/ingest/auth/token-file.js';
import { createLogger } from '../../src/log.js';
import type { ExternalScalerClient } from '../../src/proto/generated/externalscaler/ExternalScaler.js';
import type { ScaledObjectRef } from '../../src/proto/generated/externalscaler/ScaledObjectRef.js';
import { loadExternalScaler } from '../../src/proto/load.js';
import { createScalerServer, type ScalerServer, type ScalerServerOptions } from '../../src/server/server.js';

/** The token every test collector sends by default (test/helpers/scaler-collector.ts). */
export const TEST_COLLECTOR_TOKEN = 'test-collector-token-0123456789';

/** A token file holding `lines` (default: the shared test token), in a fresh temporary directory. */
export function testTokenFile(lines: readonly string[] = [TEST_COLLECTOR_TOKEN]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'keda-ebpf-tokens-')), 'tokens');
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return path;
}

/**
 * A real scaler on real ephemeral loopback ports (KEDA's and the collectors' ingest port,
 * token-authenticated with TEST_COLLECTOR_TOKEN unless `ingest` says otherwise), plus a
 * grpc-js client built from proto/externalscaler.proto.
 */
export interface TestScaler {
  readonly server: ScalerServer;
  readonly address: string;
  /** HOST:PORT of the ingest port (collectors). */
  readonly ingestAddress: string;
  readonly client: ExternalScalerClient;
  close(): Promise<void>;
}

export async function startTestScaler(options: ScalerServerOptions = {}): Promise<TestScaler> {
  const server = createScalerServer({
    listen: '127.0.0.1:0',
    log: createLogger('silent'),
    ingest: { listen: '127.0.0.1:0', authenticator: new TokenFileAuthenticator(testTokenFile()) },
    ...options,
  });
  const { port, ingestPort } = await server.start();
  const address = `127.0.0.1:${port}`;
  const client = externalScalerClient(address);
  return {
    server,
    address,
    ingestAddress: `127.0.0.1:${ingestPort ?? 0}`,
    client,
    async close() {
      client.close();
      await server.stop();
    },
  };
}

export function externalScalerClient(address: string): ExternalScalerClient {
  const { ExternalScaler } = loadExternalScaler().externalscaler;
  return new ExternalScaler(address, grpc.credentials.createInsecure());
}

/** A clock tests move by hand (unix ms). */
export class ManualClock {
  constructor(public nowMs = Date.UTC(2026, 0, 1, 0, 0, 0)) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

export function ref(scalerMetadata: Record<string, string>, name = 'web', namespace = 'default'): ScaledObjectRef {
  return { name, namespace, scalerMetadata: { scalerAddress: 'keda-ebpf-scaler:9090', ...scalerMetadata } };
}

/** Promise form of a grpc-js unary call: resolves with the response or rejects with the ServiceError. */
export function unaryCall<Res>(invoke: (callback: grpc.requestCallback<Res>) => void): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, response) => {
      if (err) reject(err);
      else if (response === undefined) reject(new Error('empty response'));
      else resolve(response);
    });
  });
}

/** Resolves with the gRPC error a call failed with (fails if it succeeded). */
export async function callError<Res>(invoke: (callback: grpc.requestCallback<Res>) => void): Promise<grpc.ServiceError> {
  try {
    await unaryCall(invoke);
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** The metric name GetMetricSpec gives `metadata`'s trigger. */
export async function specName(scaler: TestScaler, metadata: Record<string, string>): Promise<string> {
  const res = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => scaler.client.GetMetricSpec(ref(metadata), cb));
  return res.metricSpecs[0]!.metricName;
}

/**
 * GetMetrics for `metadata`'s trigger, as KEDA asks it (spec first). Fails unless there is
 * exactly one finite, non-negative value whose integer field is the float one rounded.
 */
export async function metric(scaler: TestScaler, metadata: Record<string, string>): Promise<number> {
  const name = await specName(scaler, metadata);
  const res = await unaryCall<{ metricValues: { metricValueFloat: number; metricValue: number }[] }>((cb) =>
    scaler.client.GetMetrics({ scaledObjectRef: ref(metadata), metricName: name }, cb),
  );
  if (res.metricValues.length !== 1) throw new Error(`expected one metric value, got ${res.metricValues.length}`);
  const v = res.metricValues[0]!;
  if (!(Number.isFinite(v.metricValueFloat) && v.metricValueFloat >= 0)) throw new Error(`metric value ${v.metricValueFloat} is not a finite non-negative number`);
  if (v.metricValue !== Math.round(v.metricValueFloat)) throw new Error(`metricValue ${v.metricValue} is not round(${v.metricValueFloat})`);
  return v.metricValueFloat;
}

export async function isActive(scaler: TestScaler, metadata: Record<string, string>): Promise<boolean> {
  return (await unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref(metadata), cb))).result;
}

/** The target id at the end of a metric name. */
export const idOf = (name: string): string => name.split('-').at(-1)!;
