import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestNetns } from '../../test/helpers/netns.js';
import { sleep } from './stats.js';

/**
 * Debian nginx inside a test netns: `/` answers `return 200`, `/sleep?t=SECONDS` answers
 * after echo_sleep (libnginx-mod-http-echo; at most 3 decimals, i.e. 1 ms steps).
 */
export interface Nginx {
  readonly port: number;
  readonly dir: string;
  /** SIGTERM to the master, wait for it, then SIGKILL any worker it left behind. */
  stop(): Promise<void>;
}

export interface NginxOptions {
  readonly port: number;
  readonly workers?: number;
  /** CPU list for taskset; undefined = not pinned. */
  readonly cpus?: string;
  /** A cgroup v2 directory to start nginx in (its sockets belong to the cgroup they were made in). */
  readonly cgroup?: string;
}

export async function startNginx(ns: TestNetns, options: NginxOptions): Promise<Nginx> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    [
      'load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;',
      `worker_processes ${options.workers ?? 1};`,
      'daemon off;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      `  server { listen 127.0.0.1:${options.port} reuseport backlog=4096; keepalive_requests 1000000;`,
      '    location /sleep { echo_sleep $arg_t; echo ok; }',
      '    location / { return 200 "ok"; }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const args = ['-c', conf, '-e', `${dir}/error.log`];
  const command = options.cpus !== undefined ? ['taskset', '-c', options.cpus, 'nginx', ...args] : ['nginx', ...args];
  // The shell joins the cgroup, then becomes nginx: every socket nginx opens is the cgroup's.
  const child: ChildProcess = options.cgroup !== undefined ? ns.spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', options.cgroup, ...command]) : ns.spawn(command[0]!, command.slice(1));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // Ready when the port accepts inside the namespace (probe with nginx's own test: a tiny python connect).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${stderr}`);
    try {
      await ns.run('python3', ['-c', `import socket; socket.create_connection(("127.0.0.1", ${options.port}), 1).close()`], 5000);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`nginx did not listen on ${options.port}: ${stderr}`, { cause: err });
      await sleep(100);
    }
  }
  return {
    port: options.port,
    dir,
    async stop() {
      const workers = childPids(child.pid);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      // A worker whose master died (e.g. killed with the netns) would linger and spin.
      for (const pid of workers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Direct children of a process (nginx workers of a master), from /proc. */
function childPids(parent: number | undefined): number[] {
  if (parent === undefined) return [];
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** True when something accepts on host loopback PORT (for servers outside a netns). */
export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
