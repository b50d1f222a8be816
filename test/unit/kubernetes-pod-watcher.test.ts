import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import type { KubernetesError } from '../../src/kubernetes/errors.js';
import { NetnsMapper } from '../../src/kubernetes/netns-mapper.js';
import { PodWatcher, type NodePod } from '../../src/kubernetes/pod-watcher.js';
import { StandInApiServer } from '../helpers/kube-apiserver.js';
import { FakeNode } from '../helpers/kube-cgroup-tree.js';
import { pod } from '../helpers/kube-fixtures.js';
import { Recorder, testBackoff, waitFor } from '../helpers/kube-wait.js';

const logger = createLogger('silent');
const hex = (n: number): string => n.toString(16).padStart(64, '0');
const uidOf = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

/** A pod on a node of the fixture tree: a containerd container of a Burstable pod, with its own "netns". */
function placePod(node: FakeNode, n: number): number {
  const scope = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidOf(n).replace(/-/g, '_')}.slice/cri-containerd-${hex(n)}.scope`;
  node.container(scope, `${1000 + n}\n`);
  return node.process(1000 + n);
}

const web = (n: number, extra: Partial<Parameters<typeof pod>[0]> = {}): ReturnType<typeof pod> =>
  pod({
    namespace: 'shop',
    name: `web-${n}`,
    uid: uidOf(n),
    nodeName: 'node-a',
    labels: { app: 'web' },
    qosClass: 'Burstable',
    ports: [{ name: 'http', containerPort: 8080 }],
    containerIds: [`containerd://${hex(n)}`],
    ...extra,
  });

describe('PodWatcher (stand-in API server)', () => {
  const api = new StandInApiServer();
  const node = new FakeNode(2);
  let watcher: PodWatcher;
  const changes = new Recorder<readonly NodePod[]>();
  const errors = new Recorder<KubernetesError>();

  before(async () => {
    await api.start();
    watcher = new PodWatcher({
      kubeConfig: api.kubeConfig(),
      nodeName: 'node-a',
      logger,
      mapper: new NetnsMapper({ cgroupRoot: node.cgroup, procRoot: node.proc }),
      backoff: testBackoff,
      retryIntervalMs: 20,
    });
    watcher.onChange(changes.push);
    watcher.onError(errors.push);
  });
  after(async () => {
    await watcher.stop();
    await api.stop();
    node.remove();
  });

  test('selects running pods of its own node matching namespace + labels, each with its netns inode', async () => {
    const ino1 = placePod(node, 1);
    placePod(node, 2);
    api.apply(web(1));
    api.apply(web(2, { nodeName: 'node-b' })); // another node: never listed (field selector)
    api.apply(web(3, { labels: { app: 'other' } }));
    api.apply(web(4, { namespace: 'elsewhere' }));
    api.apply(web(5, { phase: 'Pending' }));
    watcher.setSelectors([{ namespace: 'shop', matchLabels: { app: 'web' } }]);
    await watcher.start();
    assert.deepEqual(watcher.current(), [
      { uid: uidOf(1), namespace: 'shop', name: 'web-1', labels: { app: 'web' }, hostNetwork: false, netnsInode: ino1, containerPorts: [8080] },
    ]);
    await waitFor('pod watch open', () => api.openWatches('pods') === 1);
    const watched = api.requests.find((r) => r.query.watch === 'true' && r.path === '/api/v1/pods');
    assert.equal(watched?.query.fieldSelector, 'spec.nodeName=node-a');
  });

  test('pod churn: a new replica appears once its container runs, a deleted one disappears, label changes count', async () => {
    const ino6 = placePod(node, 6);
    api.apply(web(6, { phase: 'Pending', containerIds: [] }));
    api.apply(web(6));
    const added = await changes.next('web-6 added', (pods) => pods.some((p) => p.name === 'web-6'));
    assert.equal(added.find((p) => p.name === 'web-6')?.netnsInode, ino6);

    api.apply(web(1, { labels: { app: 'web', version: 'v2' } })); // still matches
    api.apply(web(6, { labels: { app: 'canary' } })); // no longer matches
    const relabelled = await changes.next('web-6 relabelled away', (pods) => !pods.some((p) => p.name === 'web-6'));
    assert.deepEqual(
      relabelled.map((p) => p.name),
      ['web-1'],
    );
    assert.deepEqual(relabelled[0]?.labels, { app: 'web', version: 'v2' });

    api.remove('Pod', 'shop', 'web-1');
    await changes.next('web-1 deleted', (pods) => pods.length === 0);
  });

  test('a pod whose cgroup is not there yet is retried until it is', async () => {
    api.apply(web(7));
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.ok(!watcher.current().some((p) => p.name === 'web-7'), 'not selected before its netns is known');
    const ino7 = placePod(node, 7);
    const pods = await changes.next('web-7 mapped after retry', (ps) => ps.some((p) => p.name === 'web-7'));
    assert.equal(pods.find((p) => p.name === 'web-7')?.netnsInode, ino7);
  });

  test('hostNetwork pods map to the host netns with their container ports; selector changes apply at once', async () => {
    api.apply(
      pod({ namespace: 'infra', name: 'edge-1', uid: uidOf(8), nodeName: 'node-a', labels: { app: 'edge' }, hostNetwork: true, ports: [{ containerPort: 8443 }, { containerPort: 9100 }], containerIds: [`containerd://${hex(8)}`] }),
    );
    // setSelectors recomputes synchronously from the watched pods (edge-1 arrived by watch first).
    await waitFor('edge-1 watched', () => {
      watcher.setSelectors([
        { namespace: 'shop', matchLabels: { app: 'web' } },
        { namespace: 'infra', matchLabels: { app: 'edge' } },
      ]);
      return watcher.current().some((p) => p.name === 'edge-1');
    });
    const edge = watcher.current();
    const e = edge.find((p) => p.name === 'edge-1');
    assert.deepEqual(e && { hostNetwork: e.hostNetwork, netnsInode: e.netnsInode, containerPorts: e.containerPorts }, {
      hostNetwork: true,
      netnsInode: statSync(join(node.proc, '1/ns/net')).ino,
      containerPorts: [8443, 9100],
    });
    assert.deepEqual(
      watcher.select({ namespace: 'infra', matchLabels: { app: 'edge' } }).map((p) => p.name),
      ['edge-1'],
    );
    watcher.setSelectors([{ namespace: 'shop', matchLabels: { app: 'web' } }]);
    assert.ok(!watcher.current().some((p) => p.name === 'edge-1'));
    // Pull interface for the collector's watch resolution: an unseen selector is added.
    assert.deepEqual(watcher.podNetns('infra', { app: 'edge' }), [statSync(join(node.proc, '1/ns/net')).ino]);
    assert.deepEqual(watcher.podNetns('infra', { app: 'nothing' }), []);
    watcher.setSelectors([{ namespace: 'shop', matchLabels: { app: 'web' } }]);
  });

  test('API server restart: the pod watch resumes and sees pods created meanwhile', async () => {
    await waitFor('pod watch open', () => api.openWatches('pods') === 1);
    await api.stop();
    const ino9 = placePod(node, 9);
    api.apply(web(9));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await api.start();
    const pods = await changes.next('web-9 after restart', (ps) => ps.some((p) => p.name === 'web-9'));
    assert.equal(pods.find((p) => p.name === 'web-9')?.netnsInode, ino9);
    assert.ok(errors.values.some((e) => e.code === 'API_UNAVAILABLE'));
    await waitFor('pod watch reopened', () => api.openWatches('pods') === 1);
  });

  test('RBAC denial on pods: FORBIDDEN naming the cluster-wide pods permission; recovers when granted', async () => {
    await waitFor('pod watch open', () => api.openWatches('pods') === 1);
    api.deny('pods');
    await api.stop();
    await api.start();
    const denied = await errors.next('forbidden', (e) => e.code === 'FORBIDDEN');
    assert.match(denied.message, /forbidden to (list|watch) pods cluster-wide.*resources: \["pods"\]/);
    api.allow('pods');
    const ino10 = placePod(node, 10);
    api.apply(web(10));
    const pods = await changes.next('web-10 after RBAC fix', (ps) => ps.some((p) => p.name === 'web-10'));
    assert.equal(pods.find((p) => p.name === 'web-10')?.netnsInode, ino10);
  });
});

describe('PodWatcher start in a process of its own (stand-in API server)', () => {
  test('a first list that fails keeps the process up, logs why once, and start() resolves when the API answers', async () => {
    const api = new StandInApiServer();
    await api.start();
    api.deny('pods');
    const dir = mkdtempSync(join(tmpdir(), 'kes-podwatch-'));
    const kubeconfig = api.writeKubeconfig(dir);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/pod-watcher-start.ts', kubeconfig], {
      cwd: new URL('../../', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines: { msg?: string; code?: string }[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as { msg?: string; code?: string }));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await waitFor('the denied list logged', () => lines.some((l) => l.msg === 'cannot list or watch the pods of this node, retrying') || child.exitCode !== null, 20_000);
      // Retries every 50-200 ms meanwhile: still up, and the same error is not logged again.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(child.exitCode, null, `the process exited (${child.exitCode}) while its first pod list failed; stdout: ${JSON.stringify(lines)} stderr: ${stderr}`);
      const warnings = lines.filter((l) => l.msg === 'cannot list or watch the pods of this node, retrying');
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]!.code, 'FORBIDDEN');
      api.allow('pods');
      assert.equal(await exited, 0, stderr);
      assert.ok(lines.some((l) => l.msg === 'pods of this node listed again'));
      assert.equal(lines.at(-1)?.msg, 'first list done');
    } finally {
      clearTimeout(killTimer);
      if (child.exitCode === null) child.kill('SIGKILL');
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
