import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createNetns, type TestNetns } from './netns.js';

/**
 * A client "pod": a network namespace joined to the host by a veth pair on a /30 of its
 * own, so traffic from it leaves through its own stack (and the root cgroup's egress
 * programs) toward an address on the host, as a pod reaches a Service.
 */
export interface VethClient {
  readonly ns: TestNetns;
  /** The host end's address: what the client connects to. */
  readonly hostIp: string;
  readonly clientIp: string;
  dispose(): void;
}

export function createVethClient(prefix: string): VethClient {
  const ns = createNetns(prefix);
  const tag = randomBytes(2).toString('hex');
  const hostDev = `kh${tag}`;
  const clientDev = `kc${tag}`;
  // 10.253.X.Y/30 from the random tag: distinct per run, inside a range tests own.
  const third = parseInt(tag.slice(0, 2), 16);
  const fourth = parseInt(tag.slice(2), 16) & 0xfc;
  const hostIp = `10.253.${third}.${fourth + 1}`;
  const clientIp = `10.253.${third}.${fourth + 2}`;
  try {
    execFileSync('ip', ['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', clientDev]);
    execFileSync('ip', ['link', 'set', clientDev, 'netns', ns.name]);
    execFileSync('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostDev]);
    execFileSync('ip', ['link', 'set', hostDev, 'up']);
    execFileSync('ip', ['-n', ns.name, 'addr', 'add', `${clientIp}/30`, 'dev', clientDev]);
    execFileSync('ip', ['-n', ns.name, 'link', 'set', clientDev, 'up']);
  } catch (err) {
    ns.dispose();
    throw err;
  }
  return {
    ns,
    hostIp,
    clientIp,
    dispose() {
      ns.dispose(); // deleting the namespace deletes the veth pair with it
      try {
        execFileSync('ip', ['link', 'del', hostDev], { stdio: 'ignore' });
      } catch {
        // already gone with the namespace
      }
    },
  };
}

/** Sets a sysctl inside the client's namespace only (e.g. the SYN retry schedule). */
export function setNetnsSysctl(ns: TestNetns, key: string, value: string): void {
  execFileSync('ip', ['netns', 'exec', ns.name, 'sysctl', '-q', '-w', `${key}=${value}`]);
}
