import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { CollectorCore } from '../../src/collector/core.js';
import type { WatchEntry } from '../../src/collector/types.js';
import { openCollector, sleep, targetOf } from '../helpers/kernel-collector.js';
import { freePort, trackedConnect } from '../helpers/sockets.js';

/**
 * holdAtZero at the kernel boundary (CollectorCore, loopback clients): held connections are
 * counted once each, a server's listen() reaches user space at once (wake-up) as the
 * listener gauge, and each held connection ends counted as released (the scaler said ready)
 * or timed out (holdAtZero passed).
 */

let core: CollectorCore;
const sockets: net.Socket[] = [];
before(() => {
  core = openCollector();
});
after(() => {
  for (const s of sockets) s.destroy();
  core?.close();
});

function attempt(port: number, host = '127.0.0.1'): ReturnType<typeof trackedConnect> {
  const client = trackedConnect(host, port);
  sockets.push(client.socket);
  return client;
}

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(10);
  }
}

test('held, then released on ready: counted once per connection; listen() wakes the collector and shows as a listener', async () => {
  const port = await freePort();
  const entry = (ready: boolean): WatchEntry => ({
    targetId: 'held',
    servers: [{ port }],
    demand: [{ ip: '127.0.0.1', port }],
    hold: { holdAtZeroMs: 10_000, ready },
  });
  core.applyWatchSet([entry(false)]);
  core.readTick();
  const clients = [attempt(port), attempt(port), attempt(port)];
  await sleep(200);
  let tick = targetOf(core.readTick().targets, 'held');
  assert.deepEqual(clients.map((c) => c.outcome()), ['waiting', 'waiting', 'waiting']);
  assert.equal(tick.heldConnections, 3);
  assert.equal(tick.demandAttempts, 3, 'held attempts are demand');
  assert.equal(tick.listeners, 0);

  const woke = new Promise<string[]>((resolve) => {
    const off = core.onWakeup((events) => {
      off();
      resolve(events.map((e) => e.targetId));
    });
  });
  const server = net.createServer((c) => c.on('error', () => undefined).end('x'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  try {
    assert.deepEqual(await Promise.race([woke, sleep(1000).then(() => ['none'])]), ['held'], 'listen() on a holding target wakes the collector');
    tick = targetOf(core.readTick().targets, 'held');
    assert.equal(tick.listeners, 1);
    core.applyWatchSet([entry(true)]);
    await until('held clients connected', () => clients.every((c) => c.outcome() === 'connected'), 3000);
    tick = targetOf(core.readTick().targets, 'held');
    console.log(`hold counters: held 3 -> released ${tick.releasedConnections}, timed out ${tick.timedOutConnections}, listeners ${tick.listeners}`);
    assert.equal(tick.releasedConnections, 3);
    assert.equal(tick.timedOutConnections, 0);
    assert.equal(tick.listeners, 1, 'accepted connections (cloned from the listener) do not count as listeners leaving');
    assert.equal(tick.heldConnections, 0, 'retransmitted SYNs of the same connections are not new holds');
  } finally {
    server.close();
  }
  await sleep(100);
  assert.equal(targetOf(core.readTick().targets, 'held').listeners, 0, 'the closed listener left the gauge');
});

test('held past holdAtZero: timed out and refused, as without holdAtZero', async () => {
  const port = await freePort();
  core.applyWatchSet([{ targetId: 'expiring', servers: [{ port }], demand: [{ ip: '127.0.0.1', port }], hold: { holdAtZeroMs: 1000, ready: false } }]);
  core.readTick();
  const clients = [attempt(port), attempt(port)];
  await until('refusal after holdAtZero', () => clients.every((c) => c.outcome() === 'ECONNREFUSED'), 4000);
  const tick = targetOf(core.readTick().targets, 'expiring');
  console.log(`hold counters: held ${tick.heldConnections}, timed out ${tick.timedOutConnections}, refused ${tick.demandRefused}`);
  assert.equal(tick.heldConnections, 2);
  assert.equal(tick.timedOutConnections, 2);
  assert.equal(tick.releasedConnections, 0);
  assert.equal(tick.demandRefused, 2);
});

test('IPv6: a held attempt to [::1] waits, and connects once the target is ready', async () => {
  const port = await freePort();
  const entry = (ready: boolean): WatchEntry => ({ targetId: 'held-v6', servers: [{ port }], demand: [{ ip: '::1', port }], hold: { holdAtZeroMs: 10_000, ready } });
  core.applyWatchSet([entry(false)]);
  core.readTick();
  const client = attempt(port, '::1');
  await sleep(200);
  assert.equal(client.outcome(), 'waiting');
  const server = net.createServer((c) => c.on('error', () => undefined).end('x'));
  await new Promise<void>((resolve) => server.listen(port, '::1', resolve));
  try {
    core.applyWatchSet([entry(true)]);
    await until('the held IPv6 client connected', () => client.outcome() === 'connected', 3000);
    const tick = targetOf(core.readTick().targets, 'held-v6');
    assert.deepEqual([tick.heldConnections, tick.releasedConnections, tick.listeners], [1, 1, 1]);
  } finally {
    server.close();
  }
});
