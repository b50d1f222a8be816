import { existsSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';

/**
 * Where a Kubernetes container's cgroup lives, for every runtime and cgroup driver:
 *
 *   systemd driver (cgroup v2 at the root, or v1 under each controller):
 *     kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
 *     (CRI-O: crio-<id>.scope, Docker/cri-dockerd: docker-<id>.scope; Guaranteed pods sit
 *     directly under kubepods.slice as kubepods-pod<uid>.slice)
 *   cgroupfs driver:
 *     kubepods/burstable/pod<uid>/<id>   (CRI-O: crio-<id>; Guaranteed: kubepods/pod<uid>/<id>)
 *
 * Pure path logic plus a bounded directory walk for layouts that differ (kind's
 * kubelet.slice prefix, custom --cgroup-root).
 */

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';

export interface ContainerRef {
  readonly runtime: ContainerRuntime;
  /** 64 lowercase hex digits. */
  readonly id: string;
}

const runtimeOfScheme: Record<string, ContainerRuntime> = { containerd: 'containerd', 'cri-o': 'cri-o', crio: 'cri-o', docker: 'docker' };

/** Parses a pod status containerID ("containerd://<64 hex>", "cri-o://…", "docker://…"). */
export function parseContainerId(containerId: string): ContainerRef | undefined {
  const m = /^([a-z-]+):\/\/([0-9a-f]{64})$/.exec(containerId.trim());
  if (!m) return undefined;
  const runtime = runtimeOfScheme[m[1]!];
  return runtime ? { runtime, id: m[2]! } : undefined;
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The pod's QoS parent (systemd and cgroupfs spelling); unknown class = all three. */
function qosParents(qosClass: string | undefined, podUid: string): { systemd: string; cgroupfs: string }[] {
  const uidUnderscored = podUid.replace(/-/g, '_');
  const forClass = (qos: QosClass): { systemd: string; cgroupfs: string } => {
    if (qos === 'Guaranteed') return { systemd: `kubepods.slice/kubepods-pod${uidUnderscored}.slice`, cgroupfs: `kubepods/pod${podUid}` };
    const q = qos.toLowerCase();
    return { systemd: `kubepods.slice/kubepods-${q}.slice/kubepods-${q}-pod${uidUnderscored}.slice`, cgroupfs: `kubepods/${q}/pod${podUid}` };
  };
  if (qosClass === 'Guaranteed' || qosClass === 'Burstable' || qosClass === 'BestEffort') return [forClass(qosClass)];
  return (['Burstable', 'BestEffort', 'Guaranteed'] as const).map(forClass);
}

const systemdScopePrefix: Record<ContainerRuntime, string> = { containerd: 'cri-containerd', 'cri-o': 'crio', docker: 'docker' };

/** Candidate container cgroup paths, relative to a hierarchy root, most likely first. */
export function containerCgroupCandidates(podUid: string, qosClass: string | undefined, ref: ContainerRef): string[] {
  const cgroupfsLeaf = ref.runtime === 'cri-o' ? `crio-${ref.id}` : ref.id;
  const paths: string[] = [];
  for (const parent of qosParents(qosClass, podUid)) {
    paths.push(`${parent.systemd}/${systemdScopePrefix[ref.runtime]}-${ref.id}.scope`);
    paths.push(`${parent.cgroupfs}/${cgroupfsLeaf}`);
  }
  return paths;
}

/** True when a directory name is this container's cgroup in any runtime's spelling (never CRI-O's conmon). */
export function isContainerDirName(name: string, id: string): boolean {
  if (name === id) return true;
  if (!name.includes(id) || name.includes('conmon')) return false;
  return name === `crio-${id}` || (name.endsWith(`-${id}.scope`) && /^(cri-containerd|crio|docker|containerd)-/.test(name));
}

/** The hierarchies to search, in order: cgroup v2 (unified), else the v1 controllers that carry every process. */
export interface CgroupLayout {
  readonly version: 1 | 2;
  /** Absolute hierarchy roots. */
  readonly bases: readonly string[];
}

// v1: kubelet creates pod cgroups in every controller; these always exist and list all
// processes. "unified" first: the hybrid layout (systemd) mirrors the tree there.
const V1_HIERARCHIES = ['unified', 'systemd', 'pids', 'memory', 'cpu,cpuacct', 'cpu'];

export function detectCgroupLayout(cgroupRoot: string): CgroupLayout {
  if (existsSync(join(cgroupRoot, 'cgroup.controllers'))) return { version: 2, bases: [cgroupRoot] };
  const bases = V1_HIERARCHIES.map((h) => join(cgroupRoot, h)).filter((dir) => existsSync(join(dir, 'cgroup.procs')));
  return { version: 1, bases };
}

// Bounded: a node has at most a few thousand cgroups (110 pods x a few containers plus
// system slices); a walk that has seen this many directories gives up.
export const MAX_WALK_DIRS = 20_000;
const MAX_WALK_DEPTH = 10;

/**
 * Breadth-first search under base for the container's directory. Descends into
 * kubepods/kubelet directories first so system slices cost nothing in the common case.
 */
export function walkForContainer(base: string, id: string, maxDirs = MAX_WALK_DIRS): string | undefined {
  let frontier = [base];
  let seen = 0;
  for (let depth = 0; depth < MAX_WALK_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of frontier) {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        if (++seen > maxDirs) return undefined;
        const path = join(dir, entry.name);
        if (isContainerDirName(entry.name, id)) return path;
        if (/kube/.test(entry.name)) next.unshift(path);
        else next.push(path);
      }
    }
    frontier = next;
  }
  return undefined;
}
