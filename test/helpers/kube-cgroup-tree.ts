import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A temp tree that mimics /sys/fs/cgroup and /proc of a node. */
export class FakeNode {
  readonly root = mkdtempSync(join(tmpdir(), 'kedaebpf-cgroup-'));
  readonly cgroup = join(this.root, 'sys/fs/cgroup');
  readonly proc = join(this.root, 'proc');

  constructor(version: 1 | 2) {
    mkdirSync(this.cgroup, { recursive: true });
    if (version === 2) writeFileSync(join(this.cgroup, 'cgroup.controllers'), 'cpu io memory pids\n');
    else for (const c of ['pids', 'memory', 'cpu,cpuacct']) this.file(`sys/fs/cgroup/${c}/cgroup.procs`, '1\n');
    this.process(1);
  }

  file(rel: string, text: string): string {
    const path = join(this.root, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  /** A process with its own "netns" file; returns that file's inode (what stat of ns/net gives). */
  process(pid: number, cgroupLine = '0::/'): number {
    const ns = this.file(`proc/${pid}/ns/net`, '');
    this.file(`proc/${pid}/cgroup`, `${cgroupLine}\n`);
    return statSync(ns).ino;
  }

  /** A container cgroup dir (relative to the cgroup root) listing pids. */
  container(rel: string, pids: string): string {
    this.file(`sys/fs/cgroup/${rel}/cgroup.procs`, pids);
    return join(this.cgroup, rel);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

