import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CollectorCore } from '../../src/collector/core.js';
import type { WatchEntry } from '../../src/collector/types.js';
import { openCollector, targetOf } from '../helpers/kernel-collector.js';
import { runClients, startServer } from '../helpers/kernel-workloads.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';

/**
 * Acceptance 3: targets are (network namespace, port). The same port in two namespaces is
 * two targets; a socket no watch entry selects adds nothing; a removed target stops
 * counting at once and a re-added one starts from zero.
 */

const PORT = 8082;
const WILDCARD_PORT = 8083;
let core: CollectorCore;
let a: TestNetns, b: TestNetns, c: TestNetns;

before(async () => {
  core = openCollector();
  a = createNetns('isoa');
  b = createNetns('isob');
  c = createNetns('isoc');
  for (const ns of [a, b, c]) await startServer(ns, '127.0.0.1', PORT, 1, 'threaded');
  await startServer(a, '::1', WILDCARD_PORT, 1, 'threaded');
});
after(() => {
  core?.close();
  for (const ns of [a, b, c]) ns?.dispose();
});

const entry = (targetId: string, port: number, netnsInode?: number): WatchEntry => ({
  targetId,
  servers: [netnsInode === undefined ? { port } : { port, netnsInode }],
  demand: [],
});

test('same port in two namespaces = two targets; unselected sockets add nothing', async () => {
  core.applyWatchSet([entry('iso-a', PORT, a.inode), entry('iso-b', PORT, b.inode), entry('iso-any', WILDCARD_PORT)]);
  core.readTick();
  await runClients(a, '127.0.0.1', PORT, 10, 1, 'keepalive');
  await runClients(b, '127.0.0.1', PORT, 25, 1, 'close');
  await runClients(c, '127.0.0.1', PORT, 7, 1, 'keepalive'); // namespace C is not watched
  await runClients(a, '::1', WILDCARD_PORT, 4, 1, 'keepalive'); // any-netns entry
  const tick = core.readTick();
  const [ta, tb, tany] = ['iso-a', 'iso-b', 'iso-any'].map((id) => targetOf(tick.targets, id));
  console.log(`isolation: ns A ${ta!.requests} requests, ns B ${tb!.requests} (accepted ${tb!.acceptedConnections}), any-netns ${tany!.requests}, unwatched ns C added 0 of 7`);
  assert.equal(tick.targets.length, 3);
  assert.equal(ta!.requests, 10);
  assert.equal(ta!.acceptedConnections, 1);
  assert.equal(tb!.requests, 25);
  assert.equal(tb!.acceptedConnections, 25);
  assert.equal(tany!.requests, 4);
});

test('a removed target stops counting at once; re-added it starts from zero', async () => {
  core.applyWatchSet([entry('iso-a', PORT, a.inode), entry('iso-b', PORT, b.inode)]);
  core.readTick();
  const removed = core.applyWatchSet([entry('iso-a', PORT, a.inode)]);
  assert.deepEqual(removed.removed, ['iso-b']);
  await runClients(b, '127.0.0.1', PORT, 5, 1, 'keepalive');
  const afterRemoval = core.readTick();
  assert.deepEqual(
    afterRemoval.targets.map((t) => t.targetId),
    ['iso-a'],
  );
  assert.equal(targetOf(afterRemoval.targets, 'iso-a').requests, 0);

  // The slot is reused by the next new target: it must start from zero.
  core.applyWatchSet([entry('iso-a', PORT, a.inode), entry('iso-b-again', PORT, b.inode)]);
  assert.equal(targetOf(core.readTick().targets, 'iso-b-again').requests, 0);
  await runClients(b, '127.0.0.1', PORT, 3, 1, 'keepalive');
  const again = targetOf(core.readTick().targets, 'iso-b-again');
  console.log(`isolation: after removal 5 requests to ns B counted 0; re-added target counted ${again.requests} of 3`);
  assert.equal(again.requests, 3);
  assert.equal(again.inFlight, 0);
});

test('overlapping selections: a port-wide target and a netns target both count every request', async () => {
  core.applyWatchSet([entry('iso-port-wide', PORT), entry('iso-a-only', PORT, a.inode)]);
  core.readTick();
  await runClients(a, '127.0.0.1', PORT, 6, 1, 'keepalive');
  await runClients(b, '127.0.0.1', PORT, 4, 1, 'close');
  const tick = core.readTick();
  const wide = targetOf(tick.targets, 'iso-port-wide');
  const aOnly = targetOf(tick.targets, 'iso-a-only');
  console.log(`isolation: overlapping targets: port-wide ${wide.requests} (of 6 + 4), netns A ${aOnly.requests} (of 6)`);
  assert.equal(wide.requests, 10);
  assert.equal(aOnly.requests, 6);
  assert.equal(wide.inFlight + aOnly.inFlight, 0);
});
