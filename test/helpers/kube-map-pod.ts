// Runs NetnsMapper.mapPod once and prints the result as JSON: test/bpf/pod-netns.test.ts
// starts it in a new pid namespace to exercise the /proc scan fallback.
import { readFileSync } from 'node:fs';
import { NetnsMapper, type PodIdentity } from '../../src/kubernetes/netns-mapper.js';

const input = JSON.parse(process.argv[2] ?? '{}') as { cgroupRoot: string; procRoot: string; pod: PodIdentity };
const mapper = new NetnsMapper({ cgroupRoot: input.cgroupRoot, procRoot: input.procRoot });
const dir = mapper.findContainerCgroup(input.pod.uid, input.pod.qosClass, { runtime: 'containerd', id: input.pod.containerIds[0]!.slice('containerd://'.length) });
const procsSeen = dir ? readFileSync(`${dir}/cgroup.procs`, 'utf8') : 'no cgroup';
console.log(JSON.stringify({ ...mapper.mapPod(input.pod), procsSeen }));
