import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CollectorCore } from '../../src/collector/core.js';
import { Histogram } from '../../src/histogram/histogram.js';
import { createLogger } from '../../src/log.js';
import { createNetns } from '../../test/helpers/netns.js';
import { startNginx } from '../lib/nginx.js';
import { round } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { runWrk } from '../lib/wrk.js';

/**
 * Case 3: the kernel's latency quantiles against the client's. nginx answers after
 * echo_sleep (fixed 5, 20, 80 ms, and a log-uniform mix 5-80 ms drawn per request by a wrk
 * Lua script); the collector core's histogram deltas over exactly the wrk run are merged and
 * their p50/p90/p99 compared with wrk --latency's.
 */

export interface AccuracyRow {
  readonly case: string;
  readonly quantile: number;
  readonly kernelMs: number;
  readonly clientMs: number;
  readonly errorPct: number;
}

const PORT = 8091;

const MIX_SCRIPT = `
math.randomseed(7)
request = function()
  -- log-uniform between 5 and 80 ms (echo_sleep takes at most 3 decimals)
  local t = 0.005 * math.exp(math.random() * math.log(16))
  return wrk.format(nil, "/sleep?t=" .. string.format("%.3f", t))
end
`;

export async function accuracy(ctx: CaseContext): Promise<{ rows: AccuracyRow[]; notes: CaseNotes }> {
  const seconds = ctx.quick ? 3 : 10;
  const connections = 32;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-acc-'));
  const mix = path.join(dir, 'mix.lua');
  fs.writeFileSync(mix, MIX_SCRIPT);
  const ns = createNetns('bench-acc');
  let core: CollectorCore | undefined;
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  try {
    nginx = await startNginx(ns, { port: PORT, cpus: '0' });
    core = CollectorCore.open({ logger: createLogger('warn') });
    core.applyWatchSet([{ targetId: 'bench-accuracy', servers: [{ port: PORT, netnsInode: ns.inode }], demand: [] }]);
    const cases = [
      { name: 'sleep 5 ms', url: `http://127.0.0.1:${PORT}/sleep?t=0.005` },
      { name: 'sleep 20 ms', url: `http://127.0.0.1:${PORT}/sleep?t=0.020` },
      { name: 'sleep 80 ms', url: `http://127.0.0.1:${PORT}/sleep?t=0.080` },
      { name: 'mix 5-80 ms log-uniform', url: `http://127.0.0.1:${PORT}/`, script: mix },
    ];
    const rows: AccuracyRow[] = [];
    const counts: string[] = [];
    for (const c of cases) {
      core.readTick(); // discard whatever came before this run
      const client = await runWrk(ns, { url: c.url, seconds, connections, cpus: '1', ...(c.script ? { script: c.script } : {}) });
      const tick = core.readTick();
      const hist = new Histogram();
      const delta = tick.targets.find((t) => t.targetId === 'bench-accuracy');
      if (delta) hist.addSparse(delta.buckets);
      counts.push(`${c.name}: wrk ${client.requests} requests (${client.errors} errors), kernel ${hist.total}`);
      for (const [q, clientMs] of [
        [0.5, client.p50Ms],
        [0.9, client.p90Ms],
        [0.99, client.p99Ms],
      ] as const) {
        const kernelMs = hist.quantileUs(q) / 1000;
        const row = { case: c.name, quantile: q, kernelMs: round(kernelMs, 3), clientMs: round(clientMs, 3), errorPct: round(((kernelMs - clientMs) / clientMs) * 100, 2) };
        rows.push(row);
        ctx.log(`accuracy ${c.name} p${q * 100}: kernel ${row.kernelMs} ms, wrk ${row.clientMs} ms, error ${row.errorPct}%`);
      }
    }
    return {
      rows,
      notes: {
        secondsPerCase: seconds,
        connections,
        pinning: 'nginx 1 worker on CPU 0, wrk -t1 on CPU 1',
        samples: counts.join(' | '),
        // The drawn distribution's own quantiles (5 * 16^q ms, before nginx's sub-ms overhead): a third opinion for the mix.
        mixTheoryMs: [0.5, 0.9, 0.99].map((q) => `p${q * 100} ${round(5 * 16 ** q, 2)}`).join(', '),
      },
    };
  } finally {
    core?.close();
    await nginx?.stop();
    await new Promise((r) => setTimeout(r, 200));
    ns.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
