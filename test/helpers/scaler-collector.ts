import * as grpc from '@grpc/grpc-js';
import { Histogram } from '../../src/histogram/histogram.js';
import type { CollectorIngestClient } from '../../src/proto/generated/kedaebpf/collector/v1/CollectorIngest.js';
import type { CollectorMessage } from '../../src/proto/generated/kedaebpf/collector/v1/CollectorMessage.js';
import type { Hello } from '../../src/proto/generated/kedaebpf/collector/v1/Hello.js';
import type { Report } from '../../src/proto/generated/kedaebpf/collector/v1/Report.js';
import type { ScalerMessage__Output } from '../../src/proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import type { TargetDelta } from '../../src/proto/generated/kedaebpf/collector/v1/TargetDelta.js';
import type { WatchSet__Output } from '../../src/proto/generated/kedaebpf/collector/v1/WatchSet.js';
import type { Welcome__Output } from '../../src/proto/generated/kedaebpf/collector/v1/Welcome.js';
import { loadCollector } from '../../src/proto/load.js';
import { WatchSetAssembler } from '../../src/stream/watch-set-assembly.js';
import { TEST_COLLECTOR_TOKEN } from './scaler-server.js';

/** A synthetic collector speaking CollectorIngest.Connect over a real stream. */
export interface TestCollector {
  readonly welcome: Welcome__Output;
  readonly stream: grpc.ClientDuplexStream<CollectorMessage, ScalerMessage__Output>;
  /** Every complete WatchSet received so far (parts put together), newest last. */
  readonly watchSets: WatchSet__Output[];
  /** Resolves with the first WatchSet (received after `after`) satisfying `predicate`. */
  waitForWatchSet(predicate: (ws: WatchSet__Output) => boolean, timeoutMs?: number): Promise<WatchSet__Output>;
  send(report: Report): void;
  /** Resolves with the stream's final status. */
  readonly status: Promise<grpc.StatusObject>;
  close(): void;
}

/** A Hello with every field set; monotonic_ms 0 (absent) unless given: reports then carry wall-clock times. */
export type TestHello = Omit<Required<Hello>, 'monotonic_ms'> & { monotonic_ms: number };

export function hello(overrides: Partial<TestHello> = {}): TestHello {
  return {
    protocol_version: 1,
    node_name: 'node-a',
    collector_id: 'collector-1',
    version: 'test',
    hook_rung: 'tp_btf',
    capabilities: ['demand'],
    monotonic_ms: 0,
    ...overrides,
  };
}

export function collectorClient(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): CollectorIngestClient {
  const { CollectorIngest } = loadCollector().kedaebpf.collector.v1;
  return new CollectorIngest(address, credentials, options);
}

export interface ConnectOptions {
  /** Bearer token sent as `authorization` metadata; null sends none. Default TEST_COLLECTOR_TOKEN. */
  readonly token?: string | null;
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Call metadata carrying a bearer token (what the collector's --token-file sends). */
export function bearerMetadata(token: string | null): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token !== null) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

export async function connectCollector(address: string, helloMessage: Hello = hello(), options: ConnectOptions = {}): Promise<TestCollector> {
  const client = collectorClient(address, options.credentials, options.channelOptions);
  const stream = client.Connect(bearerMetadata(options.token === undefined ? TEST_COLLECTOR_TOKEN : options.token));
  const watchSets: WatchSet__Output[] = [];
  const assembler = new WatchSetAssembler();
  const waiters = new Set<() => void>();
  let resolveWelcome: (w: Welcome__Output) => void = () => undefined;
  const welcome = new Promise<Welcome__Output>((resolve) => (resolveWelcome = resolve));
  const status = new Promise<grpc.StatusObject>((resolve) => {
    stream.on('status', resolve);
  });
  stream.on('error', () => undefined);
  stream.on('data', (message: ScalerMessage__Output) => {
    if (message.welcome) resolveWelcome(message.welcome);
    if (message.watch_set) {
      // Large watch sets arrive in parts: record each complete one, as the collector applies it.
      const assembled = assembler.add(message.watch_set);
      if (assembled.kind !== 'complete') return;
      watchSets.push({ ...message.watch_set, targets: assembled.targets, part: 0, parts: 1 });
      for (const w of [...waiters]) w();
    }
  });
  stream.write({ hello: helloMessage });
  const welcomeMessage = await Promise.race([
    welcome,
    status.then((s) => {
      throw new Error(`stream ended before Welcome: ${s.code} ${s.details}`);
    }),
  ]);
  return {
    welcome: welcomeMessage,
    stream,
    watchSets,
    status,
    waitForWatchSet(predicate, timeoutMs = 2000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = watchSets.find(predicate);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error('no matching WatchSet in time'));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    send(report) {
      stream.write({ report });
    },
    close() {
      stream.end();
      client.close();
    },
  };
}

/** A delta for one target from latencies (us): histogram, count and sum filled consistently. */
export function deltaFromLatencies(targetId: string, latenciesUs: readonly number[], extra: Partial<TargetDelta> = {}): TargetDelta {
  const h = new Histogram();
  let sum = 0;
  for (const v of latenciesUs) {
    h.record(v);
    sum += Math.round(v);
  }
  const sparse = h.toSparse();
  return {
    target_id: targetId,
    requests: latenciesUs.length,
    latency_sum_us: sum,
    in_flight: 0,
    accepted_connections: 0,
    demand_attempts: 0,
    demand_refused: 0,
    bucket_index: [...sparse.indices],
    bucket_count: [...sparse.counts],
    ...extra,
  };
}

export function report(sequence: number, targets: TargetDelta[], endUnixMs = Date.now(), intervalMs = 1000): Report {
  return { sequence, interval_ms: intervalMs, end_unix_ms: endUnixMs, targets, wakeup: false };
}
