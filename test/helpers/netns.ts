import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { netnsInode } from '../../src/collector/netns.js';

/**
 * Network namespaces as the tests' "pods": created with `ip netns add`, loopback up,
 * deleted (with every process started in them) by dispose(), also after failures.
 */
export interface TestNetns {
  readonly name: string;
  readonly path: string;
  /** net->ns.inum of the namespace, what the watch map is keyed by. */
  readonly inode: number;
  /** Starts a process inside the namespace; it is killed by dispose(). */
  spawn(command: string, args: readonly string[]): ChildProcess;
  /** Runs a command inside the namespace to completion; returns stdout. */
  run(command: string, args: readonly string[], timeoutMs?: number): Promise<string>;
  dispose(): void;
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the kernel (BPF) tests need root: run `sudo npm run test:bpf` (they never skip)');
  }
}

export function createNetns(prefix: string): TestNetns {
  requireRoot();
  const name = `kes-${prefix}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    execFileSync('ip', ['netns', 'del', name]);
    throw err;
  }
  const path = `/run/netns/${name}`;
  const processes = processRunner(`in ${name}`, (command, args) => spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  return {
    name,
    path,
    inode: netnsInode(path),
    ...processes,
    dispose() {
      processes.killAll();
      try {
        execFileSync('ip', ['netns', 'del', name]);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * The host network namespace shaped as a TestNetns (for hostNetwork pods): processes run
 * directly, since the tests themselves run in the host namespace.
 */
export function hostNetns(): TestNetns {
  const processes = processRunner('on the host', (command, args) => spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  return { name: 'host', path: '/proc/self/ns/net', inode: netnsInode('/proc/self/ns/net'), ...processes, dispose: processes.killAll };
}

/** spawn/run over a way to start a process, remembering children so they can all be killed. */
function processRunner(where: string, start: (command: string, args: readonly string[]) => ChildProcess) {
  const children = new Set<ChildProcess>();
  const spawnTracked = (command: string, args: readonly string[]): ChildProcess => {
    const child = start(command, args);
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  return {
    spawn: spawnTracked,
    run(command: string, args: readonly string[], timeoutMs = 30_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const child = spawnTracked(command, args);
        let out = '';
        let err = '';
        child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) resolve(out);
          else reject(new Error(`${command} ${args.join(' ')} ${where} exited ${code ?? signal}: ${err.trim()}`));
        });
      });
    },
    killAll(): void {
      for (const child of children) child.kill('SIGKILL');
    },
  };
}
