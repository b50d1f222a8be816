/**
 * What the listen-queue overflow program (bpf/listen_overflow.bpf.c) costs nginx by itself
 * (a benchmark, not a test; needs root):
 *   node --import tsx bench/listen-overflow-ab.ts [--pairs 20] [--seconds 1]
 * The collector runs in both arms of each pair (so the rest of its hooks cancel out); one
 * arm loads it with the listen-overflow program, the other without (CollectorCore option
 * listenOverflow: false). nginx `return 200` pinned to CPU 0 in a test netns, wrk -c64 on
 * CPU 1, alternating order; prints the median paired throughput ratio (with / without) and
 * its 95 % bootstrap interval. kernel-overhead.ts measures the whole collector's ratio.
 */
import { parseArgs } from 'node:util';
import { CollectorCore } from '../src/collector/core.js';
import { createLogger } from '../src/log.js';
import { createNetns } from '../test/helpers/netns.js';
import { startNginx } from './lib/nginx.js';
import { bootstrapMedianCi, median } from './lib/stats.js';
import { runWrk } from './lib/wrk.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '20' }, seconds: { type: 'string', default: '1' } } });
const PAIRS = Number(values.pairs);
const SECONDS = Number(values.seconds);
const PORT = 8092;

const ns = createNetns('lo-ab');
const nginx = await startNginx(ns, { port: PORT, cpus: '0' });
const open = (listenOverflow: boolean): CollectorCore => {
  const core = CollectorCore.open({ logger: createLogger('warn'), listenOverflow });
  core.applyWatchSet([{ targetId: 'ab', servers: [{ port: PORT, netnsInode: ns.inode }], demand: [] }]);
  return core;
};
try {
  const wrk = () => runWrk(ns, { url: `http://127.0.0.1:${PORT}/`, seconds: SECONDS, connections: 64, cpus: '1' });
  await wrk();
  const ratios: number[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    const rps: Partial<Record<'with' | 'without', number>> = {};
    for (const side of pair % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const)) {
      const core = open(side === 'with');
      if (side === 'with' && core.listenOverflow === undefined) throw new Error('the listen-overflow program did not load');
      try {
        rps[side] = (await wrk()).rps;
      } finally {
        core.close();
      }
    }
    ratios.push(rps.with! / rps.without!);
    console.error(`pair ${pair + 1}: without ${rps.without!.toFixed(0)} req/s, with ${rps.with!.toFixed(0)} req/s`);
  }
  const ci = bootstrapMedianCi(ratios);
  console.log(`listen-overflow program, nginx throughput kept: median of ${PAIRS} paired ratios ${median(ratios).toFixed(4)}, 95 % bootstrap interval ${ci.low.toFixed(4)}-${ci.high.toFixed(4)}`);
} finally {
  await nginx.stop();
  ns.dispose();
}
