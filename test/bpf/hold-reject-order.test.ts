import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { CollectorCore } from '../../src/collector/core.js';
import type { WatchEntry } from '../../src/collector/types.js';
import { monotonicSeconds, runClients, type ClientResult } from '../helpers/hold-clients.js';
import { openCollector, targetOf } from '../helpers/kernel-collector.js';
import { freePort } from '../helpers/sockets.js';
import { createVethClient, type VethClient } from '../helpers/veth.js';

/**
 * Where holdAtZero sits against kube-proxy's REJECT for a Service without endpoints
 * (README "What it can and cannot hold"), with an iptables REJECT rule standing in for
 * kube-proxy's:
 * - in the client's own OUTPUT chain (a host-network client on a kube-proxy node): netfilter's
 *   LOCAL_OUT runs before cgroup_skb/egress, so the attempt is refused at once, not held
 *   (still counted as demand);
 * - on the node, for a client in its own network namespace (a pod client): the SYN is
 *   dropped in the pod's namespace before it reaches the node's rule, so it is held until
 *   holdAtZero, then refused.
 */

const HOLD_MS = 2000;
const CLIENTS = 3;

let core: CollectorCore;
let veth: VethClient;
before(() => {
  core = openCollector();
  veth = createVethClient('reject');
});
after(() => {
  veth?.dispose();
  core?.close();
});

function rule(action: '-A' | '-D', where: 'client-output' | 'node-input', port: number): void {
  const match = ['-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'icmp-port-unreachable'];
  if (where === 'client-output') execFileSync('ip', ['netns', 'exec', veth.ns.name, 'iptables', action, 'OUTPUT', '-d', veth.hostIp, ...match]);
  else execFileSync('iptables', [action, 'INPUT', '-s', veth.clientIp, ...match]);
}

const refusedAfter = (results: readonly ClientResult[]): number[] => results.map((r) => (r.errno === 111 ? Number((r.at! - r.start).toFixed(3)) : Number.NaN));

async function trial(where: 'client-output' | 'node-input'): Promise<{ after: number[]; held: number; demand: number }> {
  const port = await freePort();
  const entry: WatchEntry = { targetId: `reject-${where}`, servers: [{ port }], demand: [{ ip: veth.hostIp, port }], hold: { holdAtZeroMs: HOLD_MS, ready: false } };
  core.applyWatchSet([entry]);
  core.readTick();
  rule('-A', where, port);
  try {
    const results = await runClients(veth.ns, veth.hostIp, port, CLIENTS, monotonicSeconds() + 0.2, 15);
    const tick = targetOf(core.readTick().targets, entry.targetId);
    return { after: refusedAfter(results), held: tick.heldConnections ?? 0, demand: tick.demandAttempts };
  } finally {
    rule('-D', where, port);
  }
}

test('a REJECT in the client\'s own OUTPUT chain wins over the hold (host-network client): refused at once, counted as demand', async () => {
  const r = await trial('client-output');
  console.log(`hold vs REJECT in the client's OUTPUT chain: refused after ${r.after.join(' ')} s, held ${r.held}, demand ${r.demand}`);
  for (const t of r.after) assert.ok(t < 0.2, `refused after ${t} s`);
  assert.equal(r.held, 0);
  assert.equal(r.demand, CLIENTS);
});

test('a REJECT on the node does not reach a client in its own namespace while it is held (pod client): held until holdAtZero', async () => {
  const r = await trial('node-input');
  console.log(`hold vs REJECT on the node: refused after ${r.after.join(' ')} s (holdAtZero ${HOLD_MS / 1000} s), held ${r.held}, demand ${r.demand}`);
  for (const t of r.after) assert.ok(t >= HOLD_MS / 1000 && t < HOLD_MS / 1000 + 2.5, `refused after ${t} s`);
  assert.equal(r.held, CLIENTS);
});
