/**
 * What the collector's throughput cost is made of (a benchmark, not a test; needs root):
 *   node --import tsx bench/overhead-candidates.ts [--pairs 10] [--seconds 1] [--only full,no-hold]
 * nginx `return 200` (1 worker, CPU 0) under wrk (-t1 -c64, CPU 1) in a test netns, as in
 * case 1 (bench/cases/kernel-overhead.ts). For each candidate, interleaved pairs of rounds
 * without / with it (order alternating), the median paired throughput ratio and its 95 %
 * bootstrap interval:
 *   full        the collector's kernel side as the product loads it (hooks, holdAtZero and
 *               connect() demand cgroup programs)
 *   no-hold     hooks only (no cgroup programs on the root cgroup)
 *   bpf-stats   full, with kernel.bpf_stats_enabled=1 (what the per-hook figures cost)
 *   ticking     full, with user space reading every slot each 200 ms as the agent does
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { CollectorCore } from '../src/collector/core.js';
import { createLogger } from '../src/log.js';
import { createNetns } from '../test/helpers/netns.js';
import { startNginx } from './lib/nginx.js';
import { bootstrapMedianCi, median } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';

const CANDIDATES = ['full', 'no-hold', 'bpf-stats', 'ticking'] as const;
type Candidate = (typeof CANDIDATES)[number];

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '1' },
    only: { type: 'string', default: CANDIDATES.join(',') },
  },
});
const PAIRS = Number(values.pairs);
const SECONDS = Number(values.seconds);
const chosen = values.only.split(',') as Candidate[];
for (const c of chosen) if (!CANDIDATES.includes(c)) throw new Error(`--only: unknown candidate "${c}"; use ${CANDIDATES.join(', ')}`);
const PORT = 8092;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

interface Attached {
  close(): void;
}

function attach(candidate: Candidate, inode: number): Attached {
  const core = CollectorCore.open({ logger: createLogger('warn'), hold: candidate !== 'no-hold' });
  core.applyWatchSet([{ targetId: 'bench-nginx', servers: [{ port: PORT, netnsInode: inode }], demand: [] }]);
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

const ns = createNetns('ovh-cand');
const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
fs.writeFileSync(STATS_SYSCTL, '0');
const nginx = await startNginx(ns, { port: PORT, cpus: '0' });
try {
  const wrk = () => runWrk(ns, { url: `http://127.0.0.1:${PORT}/`, seconds: SECONDS, connections: 64, cpus: '1' });
  await wrk();
  console.log(`load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${PAIRS} pairs of ${SECONDS} s rounds per candidate`);
  const ratios = new Map<Candidate, number[]>(chosen.map((c) => [c, []]));
  // candidates interleaved within each pair index, so drift over the run hits all alike
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const candidate of chosen) {
      const order = pair % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
      const rps: Record<string, number> = {};
      for (const side of order) {
        const attached = side === 'with' ? attach(candidate, ns.inode) : undefined;
        try {
          rps[side] = (await wrk()).rps;
        } finally {
          attached?.close();
        }
      }
      ratios.get(candidate)!.push(rps.with! / rps.without!);
    }
  }
  console.log(`load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const [candidate, rs] of ratios) {
    const ci = bootstrapMedianCi(rs);
    console.log(
      `  ${candidate.padEnd(10)} throughput kept ${median(rs).toFixed(4)} (95 % interval ${ci.low.toFixed(4)}-${ci.high.toFixed(4)}; pairs ${rs.map((r) => r.toFixed(3)).join(' ')})`,
    );
  }
} finally {
  fs.writeFileSync(STATS_SYSCTL, statsBefore);
  await nginx.stop();
  ns.dispose();
}
