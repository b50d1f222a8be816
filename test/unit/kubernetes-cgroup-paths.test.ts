import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  containerCgroupCandidates,
  detectCgroupLayout,
  isContainerDirName,
  parseContainerId,
  walkForContainer,
} from '../../src/kubernetes/cgroup-paths.js';
import { NetnsMapper, NetnsMappingError } from '../../src/kubernetes/netns-mapper.js';
import { FakeNode } from '../helpers/kube-cgroup-tree.js';

const id = (c: string): string => c.repeat(64);
const uid = '5f3c2a10-9b7e-4d21-8c3f-0a1b2c3d4e5f';
const uidU = '5f3c2a10_9b7e_4d21_8c3f_0a1b2c3d4e5f';

describe('container ids from pod status', () => {
  const rows: [string, ReturnType<typeof parseContainerId>][] = [
    [`containerd://${id('a')}`, { runtime: 'containerd', id: id('a') }],
    [`cri-o://${id('b')}`, { runtime: 'cri-o', id: id('b') }],
    [`docker://${id('c')}`, { runtime: 'docker', id: id('c') }],
    ['containerd://abc123', undefined], // not 64 hex
    [`rkt://${id('d')}`, undefined], // unknown runtime
    [`containerd://${id('A')}`, undefined], // the API always reports lowercase
    ['', undefined], // container not started yet
  ];
  for (const [input, expected] of rows) {
    test(`parseContainerId(${JSON.stringify(input.slice(0, 20))}...)`, () => assert.deepEqual(parseContainerId(input), expected));
  }
});

describe('candidate cgroup paths for every runtime, driver and QoS class', () => {
  test('containerd, Burstable: systemd and cgroupfs forms', () => {
    assert.deepEqual(containerCgroupCandidates(uid, 'Burstable', { runtime: 'containerd', id: id('a') }), [
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${id('a')}.scope`,
      `kubepods/burstable/pod${uid}/${id('a')}`,
    ]);
  });
  test('CRI-O, BestEffort', () => {
    assert.deepEqual(containerCgroupCandidates(uid, 'BestEffort', { runtime: 'cri-o', id: id('b') }), [
      `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidU}.slice/crio-${id('b')}.scope`,
      `kubepods/besteffort/pod${uid}/crio-${id('b')}`,
    ]);
  });
  test('Docker, Guaranteed: directly under kubepods', () => {
    assert.deepEqual(containerCgroupCandidates(uid, 'Guaranteed', { runtime: 'docker', id: id('c') }), [
      `kubepods.slice/kubepods-pod${uidU}.slice/docker-${id('c')}.scope`,
      `kubepods/pod${uid}/${id('c')}`,
    ]);
  });
  test('unknown QoS class: all three parents', () => {
    assert.equal(containerCgroupCandidates(uid, undefined, { runtime: 'containerd', id: id('a') }).length, 6);
  });
  test('directory names: each runtime spelling matches, CRI-O conmon and other ids never do', () => {
    assert.ok(isContainerDirName(id('a'), id('a')));
    assert.ok(isContainerDirName(`cri-containerd-${id('a')}.scope`, id('a')));
    assert.ok(isContainerDirName(`crio-${id('a')}.scope`, id('a')));
    assert.ok(isContainerDirName(`crio-${id('a')}`, id('a')));
    assert.ok(isContainerDirName(`docker-${id('a')}.scope`, id('a')));
    assert.ok(!isContainerDirName(`crio-conmon-${id('a')}.scope`, id('a')));
    assert.ok(!isContainerDirName(`cri-containerd-${id('b')}.scope`, id('a')));
    assert.ok(!isContainerDirName(`kubepods-burstable-pod${uidU}.slice`, id('a')));
  });
});

describe('NetnsMapper on fixture trees', () => {
  const nodes: FakeNode[] = [];
  const node = (v: 1 | 2): FakeNode => {
    const n = new FakeNode(v);
    nodes.push(n);
    return n;
  };
  after(() => nodes.forEach((n) => n.remove()));

  test('cgroup v2, systemd driver, containerd, Burstable', () => {
    const n = node(2);
    const dir = n.container(`kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${id('a')}.scope`, '4242\n4243\n');
    const ino = n.process(4242);
    const mapper = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc });
    assert.deepEqual(mapper.cgroupLayout(), { version: 2, bases: [n.cgroup] });
    assert.deepEqual(mapper.mapPod({ uid, qosClass: 'Burstable', containerIds: [`containerd://${id('a')}`] }), {
      netnsInode: ino,
      source: 'cgroup',
      pid: 4242,
      containerId: id('a'),
      cgroupDir: dir,
    });
  });

  test('cgroup v2, systemd driver, CRI-O with the process in a nested child cgroup', () => {
    const n = node(2);
    const scope = `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidU}.slice/crio-${id('b')}.scope`;
    n.container(scope, '');
    n.container(`${scope}/container`, '77\n');
    n.container(`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uidU}.slice/crio-conmon-${id('b')}.scope`, '76\n');
    const ino = n.process(77);
    n.process(76);
    const mapper = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc });
    const m = mapper.mapPod({ uid, qosClass: 'BestEffort', containerIds: [`cri-o://${id('b')}`] });
    assert.equal(m.netnsInode, ino);
    assert.equal(m.pid, 77);
  });

  test('cgroup v2, systemd driver, Docker, Guaranteed', () => {
    const n = node(2);
    n.container(`kubepods.slice/kubepods-pod${uidU}.slice/docker-${id('c')}.scope`, '900\n');
    const ino = n.process(900);
    const m = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc }).mapPod({ uid, qosClass: 'Guaranteed', containerIds: [`docker://${id('c')}`] });
    assert.equal(m.netnsInode, ino);
  });

  test('cgroupfs driver: containerd and CRI-O leaf names', () => {
    const n = node(2);
    n.container(`kubepods/burstable/pod${uid}/${id('a')}`, '501\n');
    n.container(`kubepods/besteffort/pod${uid}/crio-${id('b')}`, '502\n');
    const a = n.process(501);
    const b = n.process(502);
    const mapper = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc });
    assert.equal(mapper.mapPod({ uid, qosClass: 'Burstable', containerIds: [`containerd://${id('a')}`] }).netnsInode, a);
    assert.equal(mapper.mapPod({ uid, qosClass: 'BestEffort', containerIds: [`cri-o://${id('b')}`] }).netnsInode, b);
  });

  test('cgroup v1: found under the pids controller (systemd driver)', () => {
    const n = node(1);
    const dir = n.container(`pids/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${id('a')}.scope`, '321\n');
    n.container(`memory/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${id('a')}.scope`, '321\n');
    const ino = n.process(321);
    const mapper = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc });
    assert.deepEqual(detectCgroupLayout(n.cgroup).version, 1);
    const m = mapper.mapPod({ uid, qosClass: 'Burstable', containerIds: [`containerd://${id('a')}`] });
    assert.equal(m.cgroupDir, dir);
    assert.equal(m.netnsInode, ino);
  });

  test('unusual layout (kind: kubelet.slice prefix) is found by the bounded walk', () => {
    const n = node(2);
    for (let i = 0; i < 50; i++) n.container(`system.slice/unit-${i}.service`, '');
    const rel = `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${uidU}.slice/cri-containerd-${id('a')}.scope`;
    const dir = n.container(rel, '610\n');
    const ino = n.process(610);
    assert.equal(walkForContainer(n.cgroup, id('a')), dir);
    assert.equal(walkForContainer(n.cgroup, id('a'), 10), undefined, 'the walk gives up at its bound');
    assert.equal(new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc }).mapPod({ uid, qosClass: 'BestEffort', containerIds: [`containerd://${id('a')}`] }).netnsInode, ino);
  });

  test('pids invisible from our pid namespace (cgroup.procs shows 0): found by scanning /proc/N/cgroup', () => {
    const n = node(2);
    const scope = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice/cri-containerd-${id('a')}.scope`;
    n.container(scope, '0\n0\n');
    n.process(1200, '0::/system.slice/containerd.service');
    const ino = n.process(1201, `0::/${scope}`);
    const m = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc }).mapPod({ uid, qosClass: 'Burstable', containerIds: [`containerd://${id('a')}`] });
    assert.deepEqual(m, { netnsInode: ino, source: 'proc-scan', pid: 1201, containerId: id('a') });
  });

  test('a second container is used when the first has no process left; hostNetwork maps to pid 1\'s netns', () => {
    const n = node(2);
    const parent = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uidU}.slice`;
    n.container(`${parent}/cri-containerd-${id('a')}.scope`, '');
    n.container(`${parent}/cri-containerd-${id('e')}.scope`, '88\n');
    const ino = n.process(88);
    const mapper = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc });
    assert.equal(mapper.mapPod({ uid, qosClass: 'Burstable', containerIds: [`containerd://${id('a')}`, `containerd://${id('e')}`] }).netnsInode, ino);
    const host = mapper.mapPod({ uid, hostNetwork: true, containerIds: [] });
    assert.deepEqual(host, { netnsInode: statSync(join(n.proc, '1/ns/net')).ino, source: 'host' });
  });

  test('nothing found: NetnsMappingError saying what was tried', () => {
    const n = node(2);
    const mapper = new NetnsMapper({ cgroupRoot: n.cgroup, procRoot: n.proc });
    assert.throws(() => mapper.mapPod({ uid, qosClass: 'Burstable', containerIds: [`containerd://${id('f')}`] }), (err: unknown) => {
      assert.ok(err instanceof NetnsMappingError);
      assert.match(err.message, /containerd:\/\/ffffffffffff: no cgroup/);
      return true;
    });
    assert.throws(() => mapper.mapPod({ uid, containerIds: [''] }), /no running container/);
  });
});
