import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KedaClient } from '../../src/keda/client.js';
import { StandInApiServer } from '../helpers/kube-apiserver.js';
import { freePort, ProcessGroup, refusedConnect, requireE2e, startCollectorProcess, startScalerProcess, watchActive, type CliProcess } from '../helpers/e2e-processes.js';

/**
 * A collector in Kubernetes mode whose node's pods cannot be listed (RBAC for pods missing,
 * an API server it cannot reach) against the stand-in API server (no real one runs here),
 * as separate `scaler` and `collector` processes: the collector still connects to the
 * scaler and a refused connect() to a demand address still wakes its target (a demand
 * address needs no pod); it says why the list fails, once, and picks the pods up when the
 * denial is lifted. Needs root and the built BPF object.
 */

const WAKE_TIMEOUT_MS = 5_000;
const LIST_FAILED = 'cannot list or watch the pods of this node, retrying';

const group = new ProcessGroup();
const api = new StandInApiServer();
let dir = '';
let collector: CliProcess;
let client: KedaClient;

before(async () => {
  requireE2e();
  await api.start();
  api.deny('pods');
  dir = mkdtempSync(join(tmpdir(), 'kes-api-down-'));
  const kubeconfig = api.writeKubeconfig(dir);
  const port = await freePort();
  const ingestPort = await freePort();
  await startScalerProcess(group, 'scaler', port, ingestPort);
  collector = await startCollectorProcess(group, 'collector', [`127.0.0.1:${ingestPort}`], '250ms', ['--kubernetes', 'on', '--kubeconfig', kubeconfig]);
  client = new KedaClient(`127.0.0.1:${port}`);
});

after(async () => {
  client?.close();
  await group.killAll();
  await api.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Kubernetes mode with the pods list denied: the collector runs, says why, and a demand address still wakes its target', async () => {
  const denied = await collector.waitForLog((l) => l.msg === LIST_FAILED, 10_000, 'the denied pod list logged');
  assert.equal(denied['code'], 'FORBIDDEN');

  const demandPort = await freePort();
  const stream = watchActive(client, {
    name: 'api-down',
    namespace: 'e2e',
    metadata: { demandAddress: `127.0.0.1:${demandPort}`, metric: 'rps', targetValue: '10', activationWindow: '10s' },
  });
  const states = (): boolean[] => stream.states.map((s) => s.active);
  try {
    await stream.until(() => states().length > 0, 'first state', WAKE_TIMEOUT_MS);
    assert.equal(states()[0], false, 'a fresh target starts inactive');
    const t0 = performance.now();
    const woke = stream.until(() => states().includes(true), '`true` after the refused connect()', WAKE_TIMEOUT_MS);
    await refusedConnect('127.0.0.1', demandPort);
    await woke;
    console.log(`e2e-kubernetes-api-down: pods list denied, demand wake-up in ${(performance.now() - t0).toFixed(1)} ms`);
  } finally {
    stream.cancel();
  }
  assert.equal(collector.lines.filter((l) => l.msg === LIST_FAILED).length, 1, 'the same failure is logged once, not on every retry');

  api.allow('pods');
  await collector.waitForLog((l) => l.msg === 'pods of this node listed again', 10_000, 'the pod list after the denial was lifted');
  assert.ok(collector.running);
});
