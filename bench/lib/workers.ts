import { spawnNode } from './procs.js';

/** Runs a bench worker process to completion; resolves with its stdout (one JSON line). */
export function runWorker(script: string, args: readonly string[], timeoutMs: number, onSpawn?: (pid: number) => void): Promise<string> {
  const proc = spawnNode(script, args);
  onSpawn?.(proc.pid);
  let out = '';
  let err = '';
  proc.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
    proc.child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split('\n').pop() ?? '');
      else reject(new Error(`worker ${script} exited ${code ?? signal}: ${err.slice(-2000)}`));
    });
  });
}
