/**
 * Per-hook cost net of the measuring floor (a benchmark, not a test; needs root):
 *   node --import tsx bench/kernel-hook-floor.ts [--seconds 4] [--connections 32]
 * kernel.bpf_stats_enabled times every program run with two clock reads, which on a VM
 * costs as much as a small program. This loads the empty bench_floor_tp_btf program next
 * to the collector's hooks under a wrk load against nginx (`return 200`) in a test netns
 * and prints each hook's ns/run raw and minus the floor, then the cost of each building
 * block of the hooks (bench/lib/floor.ts). (Throughput pairs and raw ns/run are in
 * bench/cases/kernel-overhead.ts.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CollectorCore } from '../src/collector/core.js';
import { createLogger } from '../src/log.js';
import { createNetns } from '../test/helpers/netns.js';
import { FLOOR_PROGRAM as FLOOR, PART_PROGRAMS, attachFloorPrograms, progStats, type FloorPrograms } from './lib/floor.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, connections: { type: 'string', default: '32' } } });
const SECONDS = Number(values.seconds);
const PORT = 8091;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

const ns = createNetns('floor');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-floor-'));
const conf = path.join(dir, 'nginx.conf');
fs.writeFileSync(
  conf,
  `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 1024; }\n` +
    `http { access_log off; server { listen 127.0.0.1:${PORT}; location / { return 200 "ok"; } } }\n`,
);
const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
let core: CollectorCore | undefined;
let floor: FloorPrograms | undefined;
try {
  ns.spawn('nginx', ['-c', conf, '-e', `${dir}/error.log`]);
  execFileSync('sleep', ['0.5'], { timeout: 5000 });
  core = CollectorCore.open({ logger: createLogger('warn') });
  core.applyWatchSet([{ targetId: 'bench-nginx', servers: [{ port: PORT, netnsInode: ns.inode }], demand: [] }]);
  floor = attachFloorPrograms(true);
  fs.writeFileSync(STATS_SYSCTL, '1');
  const ids = { ...core.programIds(), ...floor.ids };
  core.readTick();
  execFileSync('ip', ['netns', 'exec', ns.name, 'wrk', '-t1', `-c${values.connections}`, `-d${SECONDS}s`, `http://127.0.0.1:${PORT}/`], {
    timeout: (SECONDS + 20) * 1000,
  });
  const requests = core.readTick().targets[0]?.requests ?? 0;
  const perRun: Record<string, { runs: number; ns: number }> = {};
  for (const [program, id] of Object.entries(ids)) {
    const { ns: runTimeNs, cnt: runs } = progStats(id);
    perRun[program] = { runs, ns: runs ? runTimeNs / runs : 0 };
  }
  const floorNs = perRun[FLOOR]?.ns ?? 0;
  console.log(`per-hook cost under wrk (${requests} requests timed by the kernel); measuring floor ${floorNs.toFixed(1)} ns/run:`);
  const parts: readonly string[] = PART_PROGRAMS;
  for (const [program, { runs, ns: v }] of Object.entries(perRun)) {
    if (program === FLOOR || parts.includes(program)) continue;
    console.log(`  ${program.padEnd(22)} ${String(runs).padStart(9)} runs  ${v.toFixed(1)} ns/run raw  ${(v - floorNs).toFixed(1)} ns/run net`);
  }
  console.log('what the hooks are made of (one building block per program, same tracepoint):');
  for (const program of parts) {
    const v = perRun[program]?.ns ?? 0;
    console.log(`  ${program.padEnd(24)} ${(v - floorNs).toFixed(1)} ns/run net`);
  }
} finally {
  fs.writeFileSync(STATS_SYSCTL, statsBefore);
  floor?.close();
  core?.close();
  ns.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
}
