import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsMapper } from '../../src/kubernetes/netns-mapper.js';

/**
 * Pod -> netns mapping for real: network namespaces made with `ip netns add`, real cgroup v2
 * directories named as the kubelet and containerd name them, a real process in each, and
 * the mapper must return the namespace's inode. Needs root (fails loudly without it).
 */

/** Where cgroup v2 is mounted: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid). */
function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return left!.split(' ')[4]!;
  }
  throw new Error('no cgroup2 mount on this machine (mount -t cgroup2 none /sys/fs/cgroup/unified)');
}

const hex = (): string => (randomUUID() + randomUUID()).replace(/-/g, '').slice(0, 64);
const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

/** `ip netns exec` enters the namespace after it started: wait for it (bounded). */
function waitUntilIn(pid: number, netns: string): void {
  const want = statSync(`/run/netns/${netns}`).ino;
  const deadline = Date.now() + 3_000;
  while (statSync(`/proc/${pid}/ns/net`).ino !== want) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not enter netns ${netns}`);
    execFileSync('sleep', ['0.01']);
  }
}

interface FakePod {
  readonly uid: string;
  readonly containerId: string;
  readonly netns: string;
  readonly cgroupDirs: string[]; // leaf first, for rmdir
  process?: ChildProcess;
}

describe('pod -> network namespace mapping (root: real netns + cgroup v2)', () => {
  assert.equal(process.getuid?.(), 0, 'test/bpf/pod-netns.test.ts needs root: it creates network namespaces and cgroups');
  const mount = cgroup2Mount();
  // A test-specific parent so nothing real is touched: the mapper's cgroup root.
  const root = join(mount, `kedaebpf-test-${process.pid}.slice`);
  const pods: FakePod[] = [];

  const makePod = (relParents: (uid: string) => string[], leaf: (id: string) => string): FakePod => {
    const uid = randomUUID();
    const containerId = hex();
    const netns = `kedaebpf-pod-${process.pid}-${pods.length}`;
    const rels = relParents(uid);
    const dirs: string[] = [];
    let path = root;
    for (const segment of [...rels, leaf(containerId)]) {
      path = join(path, segment);
      dirs.unshift(path);
    }
    const pod: FakePod = { uid, containerId, netns, cgroupDirs: dirs };
    pods.push(pod);
    run('ip', ['netns', 'add', netns]);
    mkdirSync(path, { recursive: true });
    // The container's process: a sleep inside the pod's netns, moved into its cgroup.
    const child = spawn('ip', ['netns', 'exec', netns, 'sleep', '30'], { stdio: 'ignore' });
    pod.process = child;
    writeFileSync(join(path, 'cgroup.procs'), `${child.pid}\n`);
    waitUntilIn(child.pid!, netns);
    return pod;
  };

  before(() => {
    mkdirSync(root);
  });

  after(() => {
    // Clean up even when assertions failed: processes, cgroups (leaf first), namespaces.
    for (const pod of pods) pod.process?.kill('SIGKILL');
    const deadline = Date.now() + 3_000;
    for (const pod of pods) {
      for (const dir of pod.cgroupDirs) {
        while (existsSync(dir)) {
          try {
            rmdirSync(dir);
          } catch (err) {
            // EBUSY until the killed process is reaped.
            if (Date.now() > deadline) throw err;
            execFileSync('sleep', ['0.05']);
          }
        }
      }
      try {
        run('ip', ['netns', 'del', pod.netns]);
      } catch {
        // already gone
      }
    }
    for (const dir of [join(root, 'kubepods.slice/kubepods-besteffort.slice'), join(root, 'kubepods.slice'), join(root, 'kubepods/burstable'), join(root, 'kubepods'), root]) {
      if (existsSync(dir)) rmdirSync(dir);
    }
  });

  test('systemd driver + containerd (kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope)', () => {
    const pod = makePod(
      (uid) => ['kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`],
      (id) => `cri-containerd-${id}.scope`,
    );
    const mapper = new NetnsMapper({ cgroupRoot: root, procRoot: '/proc' });
    const m = mapper.mapPod({ uid: pod.uid, qosClass: 'BestEffort', containerIds: [`containerd://${pod.containerId}`] });
    assert.equal(m.source, 'cgroup');
    assert.equal(m.pid, pod.process!.pid);
    assert.equal(m.cgroupDir, pod.cgroupDirs[0]);
    assert.equal(m.netnsInode, statSync(`/run/netns/${pod.netns}`).ino);
    assert.notEqual(m.netnsInode, statSync('/proc/self/ns/net').ino, 'a pod netns is not the test\'s netns');
  });

  test('cgroupfs driver + containerd (kubepods/burstable/pod<uid>/<id>), next to another pod', () => {
    const pod = makePod((uid) => ['kubepods', 'burstable', `pod${uid}`], (id) => id);
    const mapper = new NetnsMapper({ cgroupRoot: root, procRoot: '/proc' });
    const m = mapper.mapPod({ uid: pod.uid, qosClass: 'Burstable', containerIds: [`containerd://${pod.containerId}`] });
    assert.equal(m.netnsInode, statSync(`/run/netns/${pod.netns}`).ino);
    const other = pods[0]!;
    assert.notEqual(m.netnsInode, statSync(`/run/netns/${other.netns}`).ino);
  });

  test('hostNetwork pod maps to the host netns (pid 1 of procRoot)', () => {
    // pid 1 of this machine is not stat-able (non-dumpable init), so procRoot is a
    // directory whose "1" links to a real process in a namespace we made: the real
    // stat-through-/proc path with a known answer.
    const pod = pods[0]!;
    const fakeProc = mkdtempSync(join(tmpdir(), 'kedaebpf-proc-'));
    try {
      symlinkSync(`/proc/${pod.process!.pid}`, join(fakeProc, '1'));
      const mapper = new NetnsMapper({ cgroupRoot: root, procRoot: fakeProc });
      const m = mapper.mapPod({ uid: randomUUID(), hostNetwork: true, containerIds: [`containerd://${hex()}`] });
      assert.deepEqual(m, { netnsInode: statSync(`/run/netns/${pod.netns}`).ino, source: 'host' });
    } finally {
      rmSync(fakeProc, { recursive: true, force: true });
    }
  });

  test('from another pid namespace (DaemonSet without hostPID, host /proc mounted): cgroup.procs shows 0, /proc scan finds it', () => {
    const pod = pods[0]!;
    const script = fileURLToPath(new URL('../helpers/kube-map-pod.ts', import.meta.url));
    // unshare --pid --fork: a new pid namespace, while /proc stays the host's procfs
    // (as /host/proc would be in the DaemonSet).
    const out = run('unshare', [
      '--pid',
      '--fork',
      process.execPath,
      '--import',
      'tsx',
      script,
      JSON.stringify({ cgroupRoot: root, procRoot: '/proc', pod: { uid: pod.uid, qosClass: 'BestEffort', containerIds: [`containerd://${pod.containerId}`] } }),
    ]);
    const m = JSON.parse(out) as { netnsInode: number; source: string; procsSeen: string };
    assert.equal(m.procsSeen.trim(), '0', 'cgroup.procs hides pids of other pid namespaces (the reason for the fallback)');
    assert.equal(m.source, 'proc-scan');
    assert.equal(m.netnsInode, statSync(`/run/netns/${pod.netns}`).ino);
  });
});
