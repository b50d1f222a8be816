/**
 * Per-hook cost net of the measuring floor (a benchmark, not a test; needs root):
 *   node --import tsx bench/kernel-hook-floor.ts [--seconds 4] [--connections 32] [--rounds 3]
 *     [--baseline OTHER/build/bpf/scaler.bpf.o [--baseline-first]]   (another build attached beside, same load)
 * kernel.bpf_stats_enabled times every program run with two clock reads, which on a VM
 * costs as much as a small program. This loads the empty bench_floor_tp_btf program next
 * to the collector's hooks under a wrk load against nginx (`return 200`) in a test netns
 * and prints each hook's ns/run raw and minus the floor, then the cost of each building
 * block of the hooks (bench/lib/floor.ts). (Throughput pairs and raw ns/run are in
 * bench/cases/kernel-overhead.ts.)
 *   --wrk-cpu 0     wrk on nginx's CPU: no cache line of the connection's state (or of the
 *                   socket) moves between CPUs, which with the default (wrk on CPU 1: the
 *                   request arrives on CPU 1, the response leaves from CPU 0) every request
 *                   pays twice; the difference is what that transfer costs.
 *   --object PATH   measure another build of the collector's object instead of this one.
 *   --churn         wrk sends `Connection: close` (a new connection per request) to the
 *                   target's own address, which is also a demand address: the per-connection
 *                   programs (connect() demand, sock_release, state changes) run warm, once
 *                   or twice a request, instead of a few cold runs per round.
 *   --churn --non-demand  the same, but the target's address is not a demand address: what
 *                   connect() and SYN_SENT cost on a node's every other connection.
 *   --conn-state hash  the tp_btf rung's hash variant (as 5.10 and kprobe hosts keep
 *                   connection state) with protocol framing's compat build beside it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { CollectorCore } from '../src/collector/core.js';
import { CONN_STATES } from '../src/collector/hook-ladder.js';
import { createLogger } from '../src/log.js';
import { createNetns } from '../test/helpers/netns.js';
import { FLOOR_PROGRAM as FLOOR, PART_PROGRAMS, attachFloorPrograms, progStats, type FloorPrograms } from './lib/floor.js';
import { startNginx, type Nginx } from './lib/nginx.js';
import { runWrk } from './lib/wrk.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    baseline: { type: 'string' },
    'baseline-first': { type: 'boolean', default: false },
    object: { type: 'string' },
    'wrk-cpu': { type: 'string', default: '1' },
    churn: { type: 'boolean', default: false },
    'non-demand': { type: 'boolean', default: false },
    'conn-state': { type: 'string' },
  },
});
const connStates = values['conn-state'] === undefined ? undefined : [z.enum(CONN_STATES).parse(values['conn-state'])];
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const PORT = 8091;
const WRK_CPU = values['wrk-cpu'];
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

const ns = createNetns('floor');
const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
let core: CollectorCore | undefined;
let baseline: CollectorCore | undefined;
let floor: FloorPrograms | undefined;
let nginx: Nginx | undefined;
try {
  // pinned as in the overhead case: nginx on CPU 0, wrk on CPU 1
  nginx = await startNginx(ns, { port: PORT, cpus: '0' });
  // --baseline OBJ: another build of the collector's object attached beside this one, on the
  // same events in the same rounds, so a change is compared under identical load. Programs
  // on one tracepoint run in attach order and the second finds the socket's cache lines warm:
  // --baseline-first swaps the order (run both ways and average).
  const openBaseline = (): CollectorCore | undefined =>
    values.baseline ? CollectorCore.open({ logger: createLogger('warn'), objectPath: values.baseline }) : undefined;
  if (values['baseline-first']) baseline = openBaseline();
  core = CollectorCore.open({ logger: createLogger('warn'), ...(values.object ? { objectPath: values.object } : {}), ...(connStates ? { connStates } : {}) });
  if (!values['baseline-first']) baseline = openBaseline();
  const demand = values.churn && !values['non-demand'] ? [{ ip: '127.0.0.1', port: PORT }] : [];
  core.applyWatchSet([{ targetId: 'bench-nginx', servers: [{ port: PORT, netnsInode: ns.inode }], demand }]);
  baseline?.applyWatchSet([{ targetId: 'bench-nginx', servers: [{ port: PORT, netnsInode: ns.inode }], demand }]);
  const script = values.churn ? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kes-churn-')), 'close.lua') : undefined;
  if (script) fs.writeFileSync(script, 'wrk.headers["Connection"] = "close"\n');
  floor = attachFloorPrograms(true);
  fs.writeFileSync(STATS_SYSCTL, '1');
  const ids: Record<string, number> = { ...core.programIds(), ...floor.ids };
  for (const [program, id] of Object.entries(baseline?.programIds() ?? {})) ids[`${program} (baseline)`] = id;
  const perRound: Record<string, { runs: number; ns: number }[]> = {};
  let requests = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const before = new Map(Object.entries(ids).map(([program, id]) => [program, progStats(id)]));
    core.readTick();
    await runWrk(ns, { url: `http://127.0.0.1:${PORT}/`, seconds: SECONDS, connections: Number(values.connections), cpus: WRK_CPU, ...(script ? { script } : {}) });
    requests += core.readTick().targets[0]?.requests ?? 0;
    for (const [program, id] of Object.entries(ids)) {
      const now = progStats(id);
      const was = before.get(program)!;
      const runs = now.cnt - was.cnt;
      (perRound[program] ??= []).push({ runs, ns: runs ? (now.ns - was.ns) / runs : 0 });
    }
  }
  // each figure is the median over rounds of that round's ns/run; net = minus the same round's floor
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const floorRounds = perRound[FLOOR]!.map((r) => r.ns);
  const raw = (program: string): number => med(perRound[program]!.map((r) => r.ns));
  const net = (program: string): number => med(perRound[program]!.map((r, i) => r.ns - floorRounds[i]!));
  console.log(
    `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${ROUNDS} rounds of ${SECONDS} s, median per round; ` +
      `nginx on CPU 0, wrk on CPU ${WRK_CPU}${values.churn ? `; a new connection per request (Connection: close) to ${demand.length ? 'a demand address' : 'an address that is not a demand address'}` : ''}; ` +
      `rung ${core.hooks.rung} (${core.hooks.connState}), framing ${core.framing?.programs.join(', ') ?? 'absent'}`,
  );
  console.log(`per-hook cost under wrk (${requests} requests timed by the kernel); measuring floor ${med(floorRounds).toFixed(1)} ns/run (rounds: ${floorRounds.map((v) => v.toFixed(1)).join(', ')}):`);
  const parts: readonly string[] = PART_PROGRAMS;
  for (const program of Object.keys(ids)) {
    if (program === FLOOR || parts.includes(program)) continue;
    const runs = perRound[program]!.reduce((sum, r) => sum + r.runs, 0);
    console.log(`  ${program.padEnd(33)} ${String(runs).padStart(9)} runs  ${raw(program).toFixed(1)} ns/run raw  ${net(program).toFixed(1)} ns/run net`);
  }
  console.log('what the hooks are made of (one building block per program, same tracepoint):');
  for (const program of parts) console.log(`  ${program.padEnd(24)} ${net(program).toFixed(1)} ns/run net`);
} finally {
  fs.writeFileSync(STATS_SYSCTL, statsBefore);
  floor?.close();
  core?.close();
  baseline?.close();
  await nginx?.stop();
  ns.dispose();
}
