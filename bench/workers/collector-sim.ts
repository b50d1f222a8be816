/**
 * Simulated collectors for case 7: NODES nodes in this process, each a real
 * CollectorStreamClient (the collector's own stream code: Hello, WatchSet, backlog,
 * tickToReport) sending one report per second with TARGETS_PER_NODE target deltas, phases
 * spread over the second. grpc-js shares one HTTP/2 connection per process among channels
 * to the same address, so this process multiplexes its nodes' streams on one connection.
 * Waits for the scaler's watch set to hold WATCH_TARGETS targets, prints {"msg":"ready"},
 * starts on SIGUSR2 (so all simulator processes start together), runs DURATION_MS and
 * prints {"msg":"done","sent","nodes"}.
 *   node --import tsx bench/workers/collector-sim.ts ADDRESS FIRST_NODE NODES TARGETS_PER_NODE WATCH_TARGETS DURATION_MS
 */
import type { TargetDelta } from '../../src/collector/types.js';
import { bucketIndex, bucketLowerUs } from '../../src/histogram/layout.js';
import { createLogger } from '../../src/log.js';
import { CollectorStreamClient } from '../../src/stream/collector-client.js';

const [address, firstNode, nodes, perNode, watchTargets, durationMs] = process.argv.slice(2).map((v, i) => (i === 0 ? v : Number(v))) as [string, number, number, number, number, number];
const log = createLogger('warn');
let sent = 0;

/** A plausible target delta: ~50 requests spread over 8 buckets around 5-10 ms. */
function delta(targetId: string, seed: number): TargetDelta {
  const base = bucketIndex(5000);
  const indices: number[] = [];
  const counts: number[] = [];
  let requests = 0;
  let sum = 0;
  for (let b = 0; b < 8; b++) {
    const count = 1 + ((seed * 7 + b * 13) % 11);
    indices.push(base + b * 2);
    counts.push(count);
    requests += count;
    sum += count * bucketLowerUs(base + b * 2);
  }
  return { targetId, requests, latencySumUs: sum, inFlight: seed % 4, acceptedConnections: seed % 3, demandAttempts: 0, demandRefused: 0, buckets: { indices, counts } };
}

const clients: CollectorStreamClient[] = [];
const ready: Promise<void>[] = [];
for (let n = 0; n < nodes; n++) {
  const node = firstNode + n;
  let resolveReady!: () => void;
  ready.push(new Promise((r) => (resolveReady = r)));
  const client = new CollectorStreamClient({
    scalers: address,
    nodeName: `sim-node-${node}`,
    version: 'bench',
    hookRung: 'tp_btf',
    capabilities: [],
    logger: log,
    onWatchSet: (targets) => {
      if (targets.length >= watchTargets) resolveReady();
    },
  });
  clients.push(client);
  await client.start();
}
await Promise.all(ready);
const go = new Promise((r) => process.once('SIGUSR2', r));
process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
await go;
const endMs = Date.now() + durationMs;

const timers: NodeJS.Timeout[] = [];
clients.forEach((client, n) => {
  const node = firstNode + n;
  const ids = client.watchTargets.map((t) => t.targetId);
  // Node k reports targets k*perNode .. (mod the cluster's targets): each target on several nodes.
  const mine = Array.from({ length: perNode }, (_, i) => ids[(node * perNode + i) % ids.length]!);
  let tick = 0;
  const send = (): void => {
    if (Date.now() >= endMs) return;
    tick++;
    client.send({ endUnixMs: Date.now(), intervalMs: 1000, wakeup: false, targets: mine.map((id, i) => delta(id, tick + i + node)) });
    sent++;
  };
  // Spread the nodes' ticks over the second, as independent collectors would be.
  const phase = ((node * 997) % 1000) + 1;
  timers.push(
    setTimeout(() => {
      send();
      timers.push(setInterval(send, 1000));
    }, phase),
  );
});
await new Promise((r) => setTimeout(r, Math.max(0, endMs - Date.now()) + 200));
for (const t of timers) clearInterval(t);
await Promise.all(clients.map((c) => c.close()));
process.stdout.write(`${JSON.stringify({ msg: 'done', sent, nodes })}\n`);
