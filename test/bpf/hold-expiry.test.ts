import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KedaClient } from '../../src/keda/client.js';
import { type ClientResult, monotonicSeconds, runClients, synRetryTimes } from '../helpers/hold-clients.js';
import { ProcessGroup, freePort, requireE2e, round, sleep, startCollectorProcess, startScalerProcess, type CliProcess } from '../helpers/e2e-processes.js';
import { sample } from '../helpers/metrics-text.js';
import { createVethClient, setNetnsSysctl, type VethClient } from '../helpers/veth.js';

/**
 * Acceptance 3 (issue 14): no target stays held beyond holdAtZero, whatever happens to the
 * scaler or the collector. Separate `scaler` and `collector` processes, a client in its own
 * network namespace, and no server ever: every held client must end refused, no later than
 * the first SYN retry after holdAtZero, and a client arriving after holdAtZero is refused
 * at once.
 * - nothing killed: the kernel's own deadline ends the hold;
 * - collector killed while holding: its programs go with it, the next retry is refused;
 * - scaler killed while holding: the collector keeps its last watch set, the kernel's
 *   deadline still ends the hold.
 */

const HOLD_S = 2.5;
const CLIENTS = 5;
const LATE_SLACK_S = 0.35;
/** Classic schedule in the client namespace: retries at 1, 3, 7 s. */
const SCHEDULE = synRetryTimes(0);

const group = new ProcessGroup();
let veth: VethClient;
let scalerPort: number;
let ingestPort: number;
let scaler: CliProcess;
let collector: CliProcess;
let client: KedaClient;

before(async () => {
  requireE2e();
  veth = createVethClient('expiry');
  setNetnsSysctl(veth.ns, 'net.ipv4.tcp_syn_linear_timeouts', '0');
  scalerPort = await freePort();
  ingestPort = await freePort();
  scaler = await startScalerProcess(group, 'scaler', scalerPort, ingestPort);
  collector = await startCollectorProcess(group, 'collector', [`127.0.0.1:${ingestPort}`], '250ms');
  client = new KedaClient(`127.0.0.1:${scalerPort}`);
});
after(async () => {
  client?.close();
  veth?.dispose();
  await group.killAll();
});

/** Registers a holdAtZero target on a fresh port and waits until the collector holds it. */
async function heldTarget(name: string): Promise<number> {
  const port = await freePort();
  const holdsBefore = collector.lines.filter((l) => l.msg === 'holding first connections').length;
  await client.isActive({ name, namespace: 'e2e', metadata: { port: String(port), demandAddress: `${veth.hostIp}:${port}`, metric: 'rps', targetValue: '1', holdAtZero: `${HOLD_S * 1000}ms` } });
  await collector.waitForLog(() => collector.lines.filter((l) => l.msg === 'holding first connections').length > holdsBefore, 5000, 'the hold programmed');
  return port;
}

function refusedAt(results: readonly ClientResult[]): number[] {
  for (const r of results) assert.equal(r.errno, 111, `expected "connection refused", got ${JSON.stringify(r)}`);
  return results.map((r) => round(r.at! - r.start, 3));
}

/** Held clients at t0, an optional kill at t0 + 0.5 s, a late client at t0 + HOLD_S + 0.5 s. */
async function trial(name: string, kill?: () => Promise<unknown>): Promise<{ held: number[]; late: number[] }> {
  const port = await heldTarget(name);
  const t0 = monotonicSeconds() + 0.3;
  const held = runClients(veth.ns, veth.hostIp, port, CLIENTS, t0, 30);
  if (kill) {
    await sleep((t0 - monotonicSeconds() + 0.5) * 1000);
    await kill();
  }
  const late = runClients(veth.ns, veth.hostIp, port, 1, t0 + HOLD_S + 0.5, 30);
  return { held: refusedAt(await held), late: refusedAt(await late) };
}

const afterHold = SCHEDULE.find((t) => t > HOLD_S)!;

test(`nothing killed: held clients are refused at the first SYN retry after holdAtZero (${afterHold} s), later ones at once`, async () => {
  const { held, late } = await trial('expiry-none');
  console.log(`hold-expiry: nothing killed, holdAtZero ${HOLD_S}s: held clients refused after ${held.join(' ')} s, late client after ${late.join(' ')} s`);
  for (const t of held) assert.ok(t >= HOLD_S && t <= afterHold + LATE_SLACK_S, `refused after ${t} s`);
  for (const t of late) assert.ok(t < 0.2, `a client after holdAtZero waited ${t} s`);
  // The collector's Prometheus counters (one tick later): each held client once, each timed out.
  await sleep(600);
  const { port } = await collector.waitForLog((l) => l.msg === 'metrics listening' && typeof l.port === 'number', 5000, 'metrics listening');
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const counts = ['held', 'released', 'timed_out'].map((outcome) => sample(text, 'keda_ebpf_collector_hold_connections_total', { outcome }) ?? 0);
  console.log(`hold-expiry: collector metrics keda_ebpf_collector_hold_connections_total held/released/timed_out = ${counts.join('/')}`);
  assert.deepEqual(counts, [CLIENTS, 0, CLIENTS]);
});

test('collector killed while holding: the next SYN retry is refused', async () => {
  const { held, late } = await trial('expiry-collector', () => collector.kill('SIGKILL'));
  console.log(`hold-expiry: collector killed at 0.5 s, holdAtZero ${HOLD_S}s: held clients refused after ${held.join(' ')} s, late client after ${late.join(' ')} s`);
  for (const t of held) assert.ok(t <= SCHEDULE[0]! + LATE_SLACK_S, `refused after ${t} s`);
  for (const t of late) assert.ok(t < 0.2);
  collector = await startCollectorProcess(group, 'collector-2', [`127.0.0.1:${ingestPort}`], '250ms');
});

test(`scaler killed while holding: nothing is held beyond holdAtZero (${HOLD_S} s)`, async () => {
  const { held, late } = await trial('expiry-scaler', () => scaler.kill('SIGKILL'));
  console.log(`hold-expiry: scaler killed at 0.5 s, holdAtZero ${HOLD_S}s: held clients refused after ${held.join(' ')} s, late client after ${late.join(' ')} s`);
  for (const t of held) assert.ok(t <= afterHold + LATE_SLACK_S, `refused after ${t} s`);
  for (const t of late) assert.ok(t < 0.2, `a client after holdAtZero waited ${t} s`);
});
