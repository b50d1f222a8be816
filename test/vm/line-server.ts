import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A ground-truth server of the VM checks: a script written to a temporary file and run in
 * a child process, which prints "ready" once it listens and then one line per request it
 * answered (handed to `onLine`). Resolves once ready; rejects when it exits first or stays
 * silent for 30 s.
 */
export async function startLineServer(options: {
  /** How errors name it, e.g. "timed server 127.0.0.1:8080". */
  readonly what: string;
  readonly command: string;
  readonly fileName: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly onLine: (line: string) => void;
}): Promise<{ stop(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-vm-'));
  const file = path.join(dir, options.fileName);
  fs.writeFileSync(file, options.script);
  const child: ChildProcess = spawn(options.command, [file, ...options.args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ready = false;
  let pending = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.what} did not start within 30 s`)), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!ready && line === 'ready') {
          ready = true;
          clearTimeout(timer);
          resolve();
        } else if (line) {
          options.onLine(line);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`${options.what} exited ${code}: ${stderr.trim()}`));
    });
  });
  return {
    stop() {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
