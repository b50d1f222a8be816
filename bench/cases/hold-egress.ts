import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CollectorCore } from '../../src/collector/core.js';
import { HOLD_PROGRAMS } from '../../src/collector/hold.js';
import { createLogger } from '../../src/log.js';
import { createNetns } from '../../test/helpers/netns.js';
import { FLOOR_PROGRAM, attachFloorPrograms, type FloorPrograms, progStats } from '../lib/floor.js';
import { startNginx } from '../lib/nginx.js';
import { round } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';
import { runWrk } from '../lib/wrk.js';

/**
 * holdAtZero's cost for traffic that is not held (issue 14): hold_syn_egress runs on every
 * packet any socket of the node sends (cgroup_skb/egress on the root cgroup v2). With a
 * holdAtZero target holding on another address (so the maps are not empty), nginx in a
 * netns is loaded by wrk twice:
 * - keep-alive: almost every packet belongs to an established connection (the fast path:
 *   two loads of skb->sk);
 * - a new connection per request (Connection: close): every SYN takes the slow path
 *   (demand-address lookup, a miss).
 * Figures are bpf_stats run_time_ns / run_cnt minus the empty floor program's (what
 * bpf_stats itself adds), and runs per request (packets through the program). The
 * new-connection load also gives the per-connection programs (connect(), sock_ops,
 * socket release) enough runs to be measured: their ns/run is in the notes.
 */

export interface HoldEgressResult {
  /** ns per packet, net of the bpf_stats floor: keep-alive traffic and new-connection traffic. */
  readonly holdEgressNs: { keepAlive: number; newConnections: number };
  readonly notes: CaseNotes;
}

const PORT = 8093;
const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
const PROGRAM = 'hold_syn_egress';


export async function holdEgress(ctx: CaseContext): Promise<HoldEgressResult> {
  const seconds = ctx.quick ? 2 : 5;
  const ns = createNetns('bench-hold');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-hold-'));
  const closeScript = path.join(dir, 'close.lua');
  fs.writeFileSync(closeScript, 'wrk.headers["Connection"] = "close"\n');
  const statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
  let core: CollectorCore | undefined;
  let floor: FloorPrograms | undefined;
  const nginx = await startNginx(ns, { port: PORT, cpus: '0' }).catch((err: unknown) => {
    ns.dispose();
    throw err;
  });
  try {
    core = CollectorCore.open({ logger: createLogger('warn') });
    if (!core.hold) throw new Error('the holdAtZero programs did not attach (see the collector log)');
    // A target holding on an address nobody uses here, and the nginx port timed as usual.
    core.applyWatchSet([
      { targetId: 'bench-held', servers: [{ port: 9 }], demand: [{ ip: '10.255.255.1', port: 80 }], hold: { holdAtZeroMs: 30_000, ready: false } },
      { targetId: 'bench-nginx', servers: [{ port: PORT, netnsInode: ns.inode }], demand: [] },
    ]);
    floor = attachFloorPrograms();
    fs.writeFileSync(STATS_SYSCTL, '1');
    const ids = { [PROGRAM]: core.programIds()[PROGRAM]!, [FLOOR_PROGRAM]: floor.ids[FLOOR_PROGRAM]! };
    const others = Object.fromEntries(HOLD_PROGRAMS.filter((p) => p !== PROGRAM).map((p) => [p, core!.programIds()[p]!]));
    const othersNs: Record<string, number> = {};
    const measure = async (script?: string): Promise<{ nsPerRun: number; floorNs: number; runsPerRequest: number; rps: number }> => {
      const before = { hold: progStats(ids[PROGRAM]!), floor: progStats(ids[FLOOR_PROGRAM]!) };
      const othersBefore = Object.fromEntries(Object.entries(others).map(([p, id]) => [p, progStats(id)]));
      const load = await runWrk(ns, { url: `http://127.0.0.1:${PORT}/`, seconds, connections: 32, cpus: '1', ...(script ? { script } : {}) });
      const after = { hold: progStats(ids[PROGRAM]!), floor: progStats(ids[FLOOR_PROGRAM]!) };
      for (const [p, id] of Object.entries(others)) {
        const now = progStats(id);
        const runs = now.cnt - othersBefore[p]!.cnt;
        if (runs > 0) othersNs[p] = round((now.ns - othersBefore[p]!.ns) / runs, 1);
      }
      const runs = after.hold.cnt - before.hold.cnt;
      const floorRuns = after.floor.cnt - before.floor.cnt;
      return {
        nsPerRun: runs ? (after.hold.ns - before.hold.ns) / runs : 0,
        floorNs: floorRuns ? (after.floor.ns - before.floor.ns) / floorRuns : 0,
        runsPerRequest: load.rps > 0 ? runs / (load.rps * seconds) : 0,
        rps: load.rps,
      };
    };
    const keepAlive = await measure();
    const churn = await measure(closeScript);
    const net = (m: { nsPerRun: number; floorNs: number }): number => round(m.nsPerRun - m.floorNs, 1);
    ctx.log(
      `${PROGRAM}: keep-alive ${round(keepAlive.nsPerRun, 1)} ns/packet raw, ${net(keepAlive)} net (${round(keepAlive.runsPerRequest, 2)} packets/request, ${round(keepAlive.rps, 0)} req/s); ` +
        `new connection per request ${round(churn.nsPerRun, 1)} ns/packet raw, ${net(churn)} net (${round(churn.runsPerRequest, 2)} packets/request, ${round(churn.rps, 0)} req/s); ` +
        `per-connection programs under the new-connection load, raw ns/run: ${JSON.stringify(othersNs)}`,
    );
    return {
      holdEgressNs: { keepAlive: net(keepAlive), newConnections: net(churn) },
      notes: {
        secondsPerLoad: seconds,
        keepAliveRawNs: round(keepAlive.nsPerRun, 1),
        keepAliveFloorNs: round(keepAlive.floorNs, 1),
        keepAlivePacketsPerRequest: round(keepAlive.runsPerRequest, 2),
        newConnectionRawNs: round(churn.nsPerRun, 1),
        newConnectionFloorNs: round(churn.floorNs, 1),
        newConnectionPacketsPerRequest: round(churn.runsPerRequest, 2),
        holdingTargets: 1,
        perConnectionProgramsRawNs: JSON.stringify(othersNs),
      },
    };
  } finally {
    core?.close();
    floor?.close();
    fs.writeFileSync(STATS_SYSCTL, statsBefore);
    await nginx.stop();
    await new Promise((r) => setTimeout(r, 200));
    ns.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
