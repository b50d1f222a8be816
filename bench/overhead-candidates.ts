/**
 * What the collector's throughput cost is made of (a benchmark, not a test; needs root):
 *   node --import tsx bench/overhead-candidates.ts [--pairs 10] [--seconds 2] [--only full,no-hold]
 *     [--baseline OTHER/build/bpf/scaler.bpf.o --only full,baseline]
 * nginx `return 200` (1 worker, CPU 0) under wrk (-t1 -c64, CPU 1) in a test netns, as in
 * case 1 (bench/cases/kernel-overhead.ts). For each candidate, interleaved pairs of rounds
 * without / with it (order alternating), the median paired throughput ratio and its 95 %
 * bootstrap interval:
 *   full        the collector's kernel side as the product loads it (hooks, connect() demand
 *               cgroup programs; the holdAtZero egress program only with a holdAtZero target)
 *   no-hold     hooks only (no cgroup programs on the root cgroup)
 *   no-framing  full without the protocol-framing cgroup_skb programs (HTTP/2, TLS, HTTP/1 interim)
 *   empty-hooks no collector: empty programs on the same per-packet attach points (sk_data_ready,
 *               sock_send_length, two on cgroup_skb ingress, one on egress): the cost of the hooks
 *               themselves, before any program does work (bench/lib/floor.ts)
 *   empty-tracing, empty-cgroup  the same, only the two tracing hooks or only the three cgroup_skb ones
 *   empty-cgroup-one-ingress  one empty program on cgroup_skb ingress and one on egress: what
 *               merging the two ingress programs into one would save
 *   empty-cgroup-server  the three empty cgroup_skb programs on the cgroup nginx runs in (wrk stays
 *               outside): what they would cost were they attached to watched pods' cgroups, not the root
 *   hold-egress full, the target with holdAtZero (ready: nothing held), so the per-packet
 *               egress program is attached
 *   bpf-stats   full, with kernel.bpf_stats_enabled=1 (what the per-hook figures cost)
 *   ticking     full, with user space reading every slot each 200 ms as the agent does
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CollectorCore } from '../src/collector/core.js';
import { createLogger } from '../src/log.js';
import { createNetns } from '../test/helpers/netns.js';
import { attachEmptyHooks } from './lib/floor.js';
import { startNginx } from './lib/nginx.js';
import { bootstrapMedianCi, median } from './lib/stats.js';
import { parseWrk, type WrkResult } from './lib/wrk.js';

const CANDIDATES = ['full', 'no-hold', 'no-framing', 'empty-hooks', 'empty-tracing', 'empty-cgroup', 'empty-cgroup-one-ingress', 'empty-cgroup-server', 'hold-egress', 'bpf-stats', 'ticking', 'baseline'] as const;
type Candidate = (typeof CANDIDATES)[number];

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '2' },
    only: { type: 'string', default: 'full,no-hold,hold-egress,bpf-stats,ticking' },
    baseline: { type: 'string' },
  },
});
const PAIRS = Number(values.pairs);
const SECONDS = Number(values.seconds);
const chosen = values.only.split(',') as Candidate[];
for (const c of chosen) if (!CANDIDATES.includes(c)) throw new Error(`--only: unknown candidate "${c}"; use ${CANDIDATES.join(', ')}`);
if (chosen.includes('baseline') && !values.baseline) throw new Error('--only baseline needs --baseline OTHER/build/bpf/scaler.bpf.o (another build of the collector object)');
const PORT = 8092;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

interface Attached {
  close(): void;
}

function attach(candidate: Candidate, inode: number): Attached {
  if (candidate === 'empty-hooks') return attachEmptyHooks();
  if (candidate === 'empty-tracing') return attachEmptyHooks('tracing');
  if (candidate === 'empty-cgroup') return attachEmptyHooks('cgroup');
  if (candidate === 'empty-cgroup-one-ingress') return attachEmptyHooks('cgroup-one-ingress');
  if (candidate === 'empty-cgroup-server') return attachEmptyHooks('cgroup', [serverCgroup]);
  const core = CollectorCore.open({
    logger: createLogger('warn'),
    hold: candidate !== 'no-hold',
    framing: candidate !== 'no-framing',
    ...(candidate === 'baseline' ? { objectPath: values.baseline! } : {}),
  });
  const hold = candidate === 'hold-egress' ? { holdAtZeroMs: 30_000, ready: true } : undefined;
  core.applyWatchSet([{ targetId: 'bench-nginx', servers: [{ port: PORT, netnsInode: inode }], demand: [], ...(hold ? { hold } : {}) }]);
  core.readTick();
  let timer: NodeJS.Timeout | undefined;
  if (candidate === 'ticking') timer = setInterval(() => core.loadNow(), 200);
  if (candidate === 'bpf-stats') fs.writeFileSync(STATS_SYSCTL, '1');
  return {
    close() {
      if (timer) clearInterval(timer);
      if (candidate === 'bpf-stats') fs.writeFileSync(STATS_SYSCTL, '0');
      core.close();
    },
  };
}

/** A cgroup v2 child of the root that nginx starts in (wrk stays outside): sockets belong to
 * the cgroup their process was in when it made them, as a pod's do to the pod's cgroup. The
 * hierarchy is mounted a second time outside /sys, which `ip netns exec` replaces. */
const cgroupMount = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-cg2-'));
execFileSync('mount', ['-t', 'cgroup2', 'cgroup2', cgroupMount]);
const serverCgroup = path.join(cgroupMount, 'kes-bench-server');
fs.mkdirSync(serverCgroup, { recursive: true });

function releaseServerCgroup(): void {
  for (const pid of fs.readFileSync(`${serverCgroup}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) fs.writeFileSync(`${cgroupMount}/cgroup.procs`, pid);
  fs.rmdirSync(serverCgroup);
  execFileSync('umount', [cgroupMount]);
  fs.rmdirSync(cgroupMount);
}

const ns = createNetns('ovh-cand');
const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
fs.writeFileSync(STATS_SYSCTL, '0');
const nginx = await startNginx(ns, { port: PORT, cpus: '0', cgroup: serverCgroup });
const TICK_S = 1 / 100; // USER_HZ

/** utime + stime of nginx's workers, in seconds. */
function nginxCpuS(): number {
  const master = Number(fs.readFileSync(`${nginx.dir}/nginx.pid`, 'utf8').trim());
  const children = fs.readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  let ticks = 0;
  for (const pid of children) {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_S;
}

/** One wrk round; its own CPU from the shell's `times` (children user and system). */
async function wrkRound(): Promise<{ result: WrkResult; cpuS: number }> {
  const nginxBefore = nginxCpuS();
  const out = await ns.run('bash', ['-c', `taskset -c 1 wrk -t1 -c64 -d${SECONDS}s --latency http://127.0.0.1:${PORT}/; times`], (SECONDS + 30) * 1000);
  const nginxAfter = nginxCpuS();
  const lines = out.trim().split('\n');
  const [user, sys] = (lines.at(-1) ?? '').split(/\s+/).map((t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  });
  return { result: parseWrk(lines.slice(0, -2).join('\n')), cpuS: (user ?? NaN) + (sys ?? NaN) + nginxAfter - nginxBefore };
}

try {
  await wrkRound();
  console.log(`load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${PAIRS} pairs of ${SECONDS} s rounds per candidate`);
  const ratios = new Map<Candidate, number[]>(chosen.map((c) => [c, []]));
  const cpuRatios = new Map<Candidate, number[]>(chosen.map((c) => [c, []]));
  const cpuUs = new Map<Candidate, { with: number[]; without: number[] }>(chosen.map((c) => [c, { with: [], without: [] }]));
  // candidates interleaved within each pair index, so drift over the run hits all alike
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const candidate of chosen) {
      const order = pair % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
      const rps: Record<string, number> = {};
      const perRequestUs: Record<string, number> = {};
      for (const side of order) {
        const attached = side === 'with' ? attach(candidate, ns.inode) : undefined;
        try {
          const { result, cpuS } = await wrkRound();
          rps[side] = result.rps;
          perRequestUs[side] = (cpuS / result.requests) * 1e6;
          cpuUs.get(candidate)![side].push(perRequestUs[side]);
        } finally {
          attached?.close();
        }
      }
      ratios.get(candidate)!.push(rps.with! / rps.without!);
      cpuRatios.get(candidate)!.push(perRequestUs.with! / perRequestUs.without!);
    }
  }
  console.log(`load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const candidate of chosen) {
    const rs = ratios.get(candidate)!;
    const cs = cpuRatios.get(candidate)!;
    const ci = bootstrapMedianCi(rs);
    const cci = bootstrapMedianCi(cs);
    const us = cpuUs.get(candidate)!;
    console.log(
      `  ${candidate.padEnd(10)} throughput kept ${median(rs).toFixed(4)} (95 % interval ${ci.low.toFixed(4)}-${ci.high.toFixed(4)}); ` +
        `CPU per request (nginx + wrk) ${median(us.with).toFixed(2)} us with, ${median(us.without).toFixed(2)} us without, paired ratio ${median(cs).toFixed(4)} (95 % interval ${cci.low.toFixed(4)}-${cci.high.toFixed(4)})`,
    );
    console.log(`    throughput pairs ${rs.map((r) => r.toFixed(3)).join(' ')}`);
  }
} finally {
  fs.writeFileSync(STATS_SYSCTL, statsBefore);
  releaseServerCgroup();
  await nginx.stop();
  ns.dispose();
}
