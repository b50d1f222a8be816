import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  containerCgroupCandidates,
  detectCgroupLayout,
  isContainerDirName,
  parseContainerId,
  walkForContainer,
  type CgroupLayout,
  type ContainerRef,
} from './cgroup-paths.js';

/** What the mapper needs to know about a pod (from its spec and status). */
export interface PodIdentity {
  readonly uid: string;
  readonly qosClass?: string | undefined;
  readonly hostNetwork?: boolean | undefined;
  /** status.containerStatuses[].containerID ("containerd://<64 hex>", ...); empty ones are skipped. */
  readonly containerIds: readonly string[];
}

export interface NetnsMapping {
  readonly netnsInode: number;
  /** How it was found: the container's cgroup.procs, a /proc scan, or the host netns (hostNetwork). */
  readonly source: 'cgroup' | 'proc-scan' | 'host';
  readonly pid?: number;
  readonly containerId?: string;
  readonly cgroupDir?: string;
}

export interface NetnsMapperOptions {
  /** Host cgroup fs mount; default /sys/fs/cgroup (a DaemonSet may mount it at /host/sys/fs/cgroup). */
  readonly cgroupRoot?: string;
  /** Host procfs; default /proc (a DaemonSet without hostPID mounts the host's at /host/proc). */
  readonly procRoot?: string;
  /** The host's netns file for hostNetwork pods; default <procRoot>/1/ns/net. */
  readonly hostNetnsPath?: string;
  /** Bound of the fallback cgroup walk. */
  readonly maxWalkDirs?: number;
}

export class NetnsMappingError extends Error {
  override readonly name = 'NetnsMappingError';
}

/**
 * Pod -> network namespace inode: container id from the pod status -> the container's
 * cgroup directory -> a pid from cgroup.procs -> stat(<procRoot>/PID/ns/net).ino.
 *
 * Two facts of the kernel shape the fallbacks:
 * - cgroup.procs lists pids in the reader's pid namespace; without hostPID (host /proc
 *   mounted at /host/proc) v2 shows 0 for every pid and v1 shows none. The mapper then
 *   scans <procRoot>/N/cgroup for the container id instead.
 * - stat() of another user's /proc/PID/ns/net needs CAP_SYS_PTRACE (ptrace read access
 *   check), also for root: the pause process runs as 65535.
 */
export class NetnsMapper {
  private readonly cgroupRoot: string;
  private readonly procRoot: string;
  private layout: CgroupLayout | undefined;

  constructor(private readonly options: NetnsMapperOptions = {}) {
    this.cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
    this.procRoot = options.procRoot ?? '/proc';
  }

  /** The host's network namespace inode (that of pid 1 in procRoot, unless configured). */
  hostNetnsInode(): number {
    const path = this.options.hostNetnsPath ?? join(this.procRoot, '1', 'ns', 'net');
    try {
      return statSync(path).ino;
    } catch (err) {
      throw new NetnsMappingError(`cannot stat the host network namespace ${path} (hostNetwork pods): ${(err as Error).message}`, { cause: err });
    }
  }

  cgroupLayout(): CgroupLayout {
    this.layout ??= detectCgroupLayout(this.cgroupRoot);
    return this.layout;
  }

  /** Maps a pod; throws NetnsMappingError saying what was tried when nothing works. */
  mapPod(pod: PodIdentity): NetnsMapping {
    if (pod.hostNetwork) return { netnsInode: this.hostNetnsInode(), source: 'host' };
    const refs = pod.containerIds.map(parseContainerId).filter((r): r is ContainerRef => r !== undefined);
    if (refs.length === 0) throw new NetnsMappingError(`pod ${pod.uid}: no running container with a known container id yet`);
    const tried: string[] = [];
    let anyCgroup = false;
    for (const ref of refs) {
      const dir = this.findContainerCgroup(pod.uid, pod.qosClass, ref);
      if (!dir) {
        tried.push(`${ref.runtime}://${ref.id.slice(0, 12)}: no cgroup`);
        continue;
      }
      anyCgroup = true;
      for (const pid of this.pidsOf(dir)) {
        const inode = this.netnsOfPid(pid);
        if (inode !== undefined) return { netnsInode: inode, source: 'cgroup', pid, containerId: ref.id, cgroupDir: dir };
      }
      tried.push(`${dir}: no readable pid`);
    }
    // Pids invisible from our pid namespace (or no cgroup found): find them through /proc.
    const byId = this.scanProc(new Set(refs.map((r) => r.id)));
    for (const ref of refs) {
      const pid = byId.get(ref.id);
      const inode = pid === undefined ? undefined : this.netnsOfPid(pid);
      if (pid !== undefined && inode !== undefined) return { netnsInode: inode, source: 'proc-scan', pid, containerId: ref.id };
    }
    tried.push(`${this.procRoot}/*/cgroup: no process of these containers`);
    const hint = anyCgroup ? ' (stat of /proc/PID/ns/net needs CAP_SYS_PTRACE for processes of other users)' : '';
    throw new NetnsMappingError(`pod ${pod.uid}: network namespace not found: ${tried.join('; ')}${hint}`);
  }

  /** The container's cgroup directory: likely paths first, then a bounded walk. */
  findContainerCgroup(podUid: string, qosClass: string | undefined, ref: ContainerRef): string | undefined {
    const { bases } = this.cgroupLayout();
    const candidates = containerCgroupCandidates(podUid, qosClass, ref);
    for (const base of bases) {
      for (const rel of candidates) {
        const dir = join(base, rel);
        if (existsSync(dir)) return dir;
      }
    }
    for (const base of bases) {
      const found = walkForContainer(base, ref.id, this.options.maxWalkDirs);
      if (found) return found;
    }
    return undefined;
  }

  /** Pids listed in dir/cgroup.procs, else in its child cgroups (CRI-O nests one level). */
  pidsOf(dir: string): number[] {
    const own = readPids(join(dir, 'cgroup.procs'));
    if (own.length > 0) return own;
    let children: string[] = [];
    try {
      children = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return [];
    }
    return children.flatMap((child) => readPids(join(dir, child, 'cgroup.procs')));
  }

  private netnsOfPid(pid: number): number | undefined {
    try {
      return statSync(join(this.procRoot, String(pid), 'ns', 'net')).ino;
    } catch {
      return undefined; // exited meanwhile, or no permission: try the next one
    }
  }

  /** container id -> one pid whose /proc/PID/cgroup names it. */
  private scanProc(ids: ReadonlySet<string>): Map<string, number> {
    const found = new Map<string, number>();
    let entries: string[];
    try {
      entries = readdirSync(this.procRoot);
    } catch {
      return found;
    }
    for (const name of entries) {
      if (!/^\d+$/.test(name)) continue;
      let text: string;
      try {
        text = readFileSync(join(this.procRoot, name, 'cgroup'), 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        // "hierarchy-id:controllers:/path"; CRI-O may nest the process below the scope.
        const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
        for (const id of ids) {
          if (found.has(id) || !path.includes(id)) continue;
          if (path.split('/').some((segment) => isContainerDirName(segment, id))) found.set(id, Number(name));
        }
      }
      if (found.size === ids.size) break;
    }
    return found;
  }
}

function readPids(file: string): number[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  // 0 = a process outside our pid namespace (cgroup v2): useless here.
  return text
    .split('\n')
    .map((l) => Number(l))
    .filter((n) => Number.isInteger(n) && n > 0);
}
