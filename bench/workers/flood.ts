/**
 * Hostile or unlucky load for the resource-bounds benchmark (issue 10, attacks 4, 5, 9), in
 * its own process so the flood never shares an event loop with the measuring client. Every
 * mode prints {"msg":"ready"} when set up and {"msg":"done", ...} when finished.
 *
 *   flood.ts fill ADDRESS PREFIX SECONDS
 *       one collector fills SECONDS of history (backdated reports) with all 384 buckets for
 *       every watch-set target whose id is in the scaler's watch set and port starts PREFIX.
 *   flood.ts streams ADDRESS COUNT PORT
 *       opens COUNT StreamIsActive on the trigger {port: PORT, window: 10m} and holds them.
 *   flood.ts reports ADDRESS COLLECTORS PER_SECOND SECONDS [ID,ID...]
 *       COLLECTORS collector streams report full histograms for the given target ids (default:
 *       the whole watch set), PER_SECOND reports per second in total.
 *   flood.ts streams-many ADDRESS COUNT TARGETS
 *       opens COUNT StreamIsActive spread over the benchmark's TARGETS ScaledObjects
 *       (keda-targets.ts) and holds them; prints {"msg":"ended"} for any that ends early.
 *   flood.ts huge ADDRESS STREAMS COUNT
 *       STREAMS collector streams each send COUNT reports with 1M-entry bucket arrays
 *       (each refused: the worker reconnects and sends the next one).
 */
import * as grpc from '@grpc/grpc-js';
import { BUCKET_COUNT } from '../../src/histogram/layout.js';
import { KedaClient } from '../../src/keda/client.js';
import { kedaTargetRef } from './keda-targets.js';
import type { CollectorMessage } from '../../src/proto/generated/kedaebpf/collector/v1/CollectorMessage.js';
import type { ScalerMessage__Output } from '../../src/proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import { loadCollector, loadExternalScaler } from '../../src/proto/load.js';

const [mode, address, ...rest] = process.argv.slice(2);
if (!mode || !address) throw new Error('usage: flood.ts MODE ADDRESS ...');
const say = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
const { CollectorIngest } = loadCollector().kedaebpf.collector.v1;

interface Collector {
  readonly stream: grpc.ClientDuplexStream<CollectorMessage, ScalerMessage__Output>;
  readonly targets: Promise<string[]>;
  readonly status: Promise<grpc.StatusObject>;
}

function connect(name: string, client = new CollectorIngest(address!, grpc.credentials.createInsecure())): Collector {
  const stream = client.Connect();
  stream.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  const targets = new Promise<string[]>((resolve) => {
    stream.on('data', (m: ScalerMessage__Output) => {
      if (m.watch_set) resolve((m.watch_set.targets ?? []).map((t) => t.target_id));
    });
  });
  stream.write({ hello: { protocol_version: 1, node_name: name, collector_id: `${name}-${process.pid}`, version: 'bench', hook_rung: 'tp_btf', capabilities: [] } });
  return { stream, targets, status };
}

const fullDelta = (id: string) => ({
  target_id: id,
  requests: 3 * BUCKET_COUNT,
  latency_sum_us: 3 * BUCKET_COUNT * 5000,
  in_flight: 0,
  accepted_connections: 0,
  demand_attempts: 0,
  demand_refused: 0,
  bucket_index: [...Array(BUCKET_COUNT).keys()],
  bucket_count: new Array<number>(BUCKET_COUNT).fill(3),
});

/** Writes with backpressure, so the worker does not buffer the whole flood in memory. */
function write(stream: Collector['stream'], message: CollectorMessage): Promise<void> {
  return stream.write(message) ? Promise.resolve() : new Promise((resolve) => stream.once('drain', resolve));
}

if (mode === 'fill') {
  const seconds = Number(rest[0] ?? 600);
  const c = connect('bench-fill');
  const ids = await c.targets;
  const now = Date.now();
  let sequence = 0;
  // Several reports per second of history, each with at most 20 full targets (~54 KB).
  for (let s = seconds - 1; s >= 0; s--) {
    for (let i = 0; i < ids.length; i += 20) {
      await write(c.stream, { report: { sequence: ++sequence, interval_ms: 1000, end_unix_ms: now - s * 1000, wakeup: false, targets: ids.slice(i, i + 20).map(fullDelta) } });
    }
  }
  c.stream.end();
  await c.status;
  say({ msg: 'done', reports: sequence, targets: ids.length, seconds });
} else if (mode === 'streams') {
  const count = Number(rest[0] ?? 2000);
  const port = rest[1] ?? '18000';
  const client = new (loadExternalScaler().externalscaler.ExternalScaler)(address, grpc.credentials.createInsecure());
  const ref = { name: 'bench-streams', namespace: 'bench', scalerMetadata: { scalerAddress: 'bench:9090', port, targetValue: '100', window: '10m', activationWindow: '10m' } };
  const streams: grpc.ClientReadableStream<unknown>[] = [];
  let opened = 0;
  for (let i = 0; i < count; i++) {
    const s = client.StreamIsActive(ref);
    s.on('error', () => undefined);
    s.once('data', () => {
      opened++;
      if (opened === count) say({ msg: 'ready', streams: count });
    });
    streams.push(s);
  }
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  for (const s of streams) s.cancel();
  client.close();
  say({ msg: 'done', streams: count });
} else if (mode === 'streams-many') {
  const count = Number(rest[0] ?? 2000);
  const targets = Number(rest[1] ?? 1000);
  const keda = new KedaClient(address);
  let opened = 0;
  let ended = 0;
  const calls = Array.from({ length: count }, (_, i) => {
    let first = true;
    return keda.streamIsActive(
      kedaTargetRef(i % targets),
      () => {
        if (!first) return;
        first = false;
        if (++opened === count) say({ msg: 'ready', streams: count });
      },
      (err) => {
        ended++;
        say({ msg: 'ended', index: i, ended, error: err?.message ?? null });
      },
    );
  });
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  const endedBeforeStop = ended;
  for (const c of calls) c.cancel();
  keda.close();
  say({ msg: 'done', streams: count, opened, endedBeforeStop });
} else if (mode === 'reports') {
  const collectors = Number(rest[0] ?? 50);
  const perSecond = Number(rest[1] ?? 50);
  const seconds = Number(rest[2] ?? 30);
  const client = new CollectorIngest(address, grpc.credentials.createInsecure());
  const cs = Array.from({ length: collectors }, (_, i) => connect(`bench-reports-${i}`, client));
  const ids = rest[3] ? rest[3].split(',') : await cs[0]!.targets;
  await cs[0]!.targets;
  say({ msg: 'ready', collectors, targets: ids.length });
  const sequences = new Array<number>(collectors).fill(0);
  let sent = 0;
  const end = Date.now() + seconds * 1000;
  const gapMs = 1000 / perSecond;
  let next = Date.now();
  while (Date.now() < end) {
    const i = sent % collectors;
    // 20 full targets per report at most (real collectors split too).
    for (let k = 0; k < ids.length; k += 20) {
      void write(cs[i]!.stream, { report: { sequence: ++sequences[i]!, interval_ms: 1000, end_unix_ms: Date.now(), wakeup: false, targets: ids.slice(k, k + 20).map(fullDelta) } });
    }
    sent++;
    next += gapMs;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  for (const c of cs) c.stream.end();
  await Promise.all(cs.map((c) => c.status));
  say({ msg: 'done', reports: sent });
} else if (mode === 'huge') {
  const streams = Number(rest[0] ?? 2);
  const count = Number(rest[1] ?? 15);
  const entries = 1_000_000;
  const target = { ...fullDelta('x'), bucket_index: new Array<number>(entries).fill(1), bucket_count: new Array<number>(entries).fill(1) };
  say({ msg: 'ready' });
  const codes: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: streams }, async (_, s) => {
      const client = new CollectorIngest(address, grpc.credentials.createInsecure());
      for (let n = 0; n < count; n++) {
        const c = connect(`bench-huge-${s}`, client);
        await c.targets;
        void write(c.stream, { report: { sequence: n + 1, interval_ms: 1000, end_unix_ms: Date.now(), wakeup: false, targets: [target] } });
        const status = await c.status;
        codes[grpc.status[status.code] ?? status.code] = (codes[grpc.status[status.code] ?? status.code] ?? 0) + 1;
      }
      client.close();
    }),
  );
  say({ msg: 'done', codes });
} else {
  throw new Error(`unknown mode ${mode}`);
}
// Exit once the last line is written (a pipe reader may otherwise see 'exit' first).
process.stdout.write('', () => process.exit(0));
