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
