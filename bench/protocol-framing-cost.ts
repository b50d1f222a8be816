/**
 * Per-run cost of the protocol framing programs (bpf/protocol_framing.bpf.c) where they do
 * the most work: walking HTTP/2 frames (gRPC, 16 streams on one connection) and TLS records
 * (nginx, TLS 1.3 keep-alive), next to the hook ladder's programs under the same load.
 * A benchmark, not a test (needs root):
 *   node --import tsx bench/protocol-framing-cost.ts [--requests 2000]
 * Figures are raw ns/run with kernel.bpf_stats_enabled=1 (which adds its own two clock reads
 * per run: bench/kernel-hook-floor.ts measures that floor, ~35-40 ns here).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { CollectorCore } from '../src/collector/core.js';
import { createLogger } from '../src/log.js';
import { programRunStats } from '../src/bpf/prog-stats.js';
import { createNetns } from '../test/helpers/netns.js';
import { runGrpcClient, runHttpClient, startGrpcServer, startNginx } from '../test/helpers/protocol-workloads.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' } } });
const REQUESTS = Number(values.requests);
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

const ns = createNetns('framecost');
const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
let core: CollectorCore | undefined;
try {
  core = CollectorCore.open({ logger: createLogger('warn') });
  if (!core.framing) throw new Error('protocol framing programs are not attached on this kernel (see the collector log)');
  await startGrpcServer(ns, '127.0.0.1', 50051);
  await startNginx(ns, '127.0.0.1', 8443, { tls: true });
  const ids = core.programIds();
  fs.writeFileSync(STATS_SYSCTL, '1');
  const cases: [string, number, () => Promise<unknown>][] = [
    ['gRPC h2c, 16 streams', 50051, () => runGrpcClient(ns, '127.0.0.1', 50051, { requests: REQUESTS, streams: 16, delays: { minMs: 0, maxMs: 1, seed: 1 } })],
    ['TLS 1.3 keep-alive', 8443, () => runHttpClient(ns, '127.0.0.1', 8443, { requests: REQUESTS, delays: { minMs: 0, maxMs: 0, seed: 1 }, tls: '1.3', connection: 'keepalive', alpn: ['http/1.1'] })],
  ];
  for (const [label, port, run] of cases) {
    core.applyWatchSet([{ targetId: 'bench', servers: [{ port, netnsInode: ns.inode }], demand: [] }]);
    core.readTick();
    const before = Object.fromEntries(Object.entries(ids).map(([p, id]) => [p, programRunStats(id)]));
    await run();
    const requests = core.readTick().targets[0]?.requests ?? 0;
    console.log(`${label}: ${requests} requests timed by the kernel; raw ns/run (kernel.bpf_stats_enabled=1):`);
    for (const [program, id] of Object.entries(ids)) {
      const now = programRunStats(id);
      const runs = Number(now.runCount - before[program]!.runCount);
      if (!runs) continue;
      const ns = Number(now.runTimeNs - before[program]!.runTimeNs) / runs;
      console.log(`  ${program.padEnd(24)} ${String(runs).padStart(8)} runs  ${ns.toFixed(1)} ns/run`);
    }
  }
} finally {
  fs.writeFileSync(STATS_SYSCTL, statsBefore);
  core?.close();
  ns.dispose();
}
