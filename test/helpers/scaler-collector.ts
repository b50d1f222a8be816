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

/** A synthetic collector speaking CollectorIngest.Connect over a real stream. */
export interface TestCollector {
  readonly welcome: Welcome__Output;
  readonly stream: grpc.ClientDuplexStream<CollectorMessage, ScalerMessage__Output>;
  /** Every WatchSet received so far, newest last. */
  readonly watchSets: WatchSet__Output[];
  /** Resolves with the first WatchSet (received after `after`) satisfying `predicate`. */
  waitForWatchSet(predicate: (ws: WatchSet__Output) => boolean, timeoutMs?: number): Promise<WatchSet__Output>;
  send(report: Report): void;
  /** Resolves with the stream's final status. */
  readonly status: Promise<grpc.StatusObject>;
  close(): void;
}

export function hello(overrides: Partial<Hello> = {}): Required<Hello> {
  return {
    protocol_version: 1,
    node_name: 'node-a',
    collector_id: 'collector-1',
    version: 'test',
    hook_rung: 'tp_btf',
    capabilities: ['demand'],
    ...overrides,
  };
}

export function collectorClient(address: string): CollectorIngestClient {
  const { CollectorIngest } = loadCollector().kedaebpf.collector.v1;
  return new CollectorIngest(address, grpc.credentials.createInsecure());
}

export async function connectCollector(address: string, helloMessage: Hello = hello()): Promise<TestCollector> {
  const client = collectorClient(address);
  const stream = client.Connect();
  const watchSets: WatchSet__Output[] = [];
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
      watchSets.push(message.watch_set);
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
