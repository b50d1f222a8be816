import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.js';
import { loadKubeConfig } from '../../src/kubernetes/kubeconfig.js';
import { discoverScaledObjects } from '../../src/kubernetes/scaledobject-discovery.js';

/**
 * Attack 10 (issue 10): an API server that accepts connections and never answers made
 * ScaledObject discovery wait forever, and the scaler took 72.6 s to exit after SIGTERM.
 * `--kubernetes on` with no configuration at all fell back to http://localhost:8080.
 * The hung API server here is a real TCP listener on loopback that reads and never writes.
 */

const cwd = new URL('../../', import.meta.url).pathname;

describe('a Kubernetes API server that never answers (attack 10)', () => {
  let hung: net.Server;
  const sockets = new Set<net.Socket>();
  let kubeconfig: string;
  let dir: string;
  before(async () => {
    hung = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const port = (hung.address() as net.AddressInfo).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-hung-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: hung, cluster: {server: "http://127.0.0.1:' + port + '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: c, context: {cluster: hung, user: u}}]',
        'current-context: c',
      ].join('\n'),
    );
  });
  after(() => {
    for (const s of sockets) s.destroy();
    hung.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('API calls have a deadline: discovery gives up and says so', async () => {
    const kc = loadKubeConfig({ kubeconfigPath: kubeconfig, requestTimeoutMs: 300 });
    let connected = 0;
    const count = (): void => void connected++;
    hung.on('connection', count);
    const t0 = performance.now();
    const found = await discoverScaledObjects({ kubeConfig: kc, logger: createLogger('silent'), identity: { serviceName: 's', namespace: 'n', port: 9090 } });
    const ms = performance.now() - t0;
    hung.off('connection', count);
    assert.deepEqual(found, []);
    assert.equal(connected, 1, 'the list reached the hung server');
    assert.ok(ms >= 290 && ms < 5000, `discovery returned after ${ms.toFixed(0)} ms (deadline 300 ms)`);
    kc.close();
  });

  it('SIGTERM exits within seconds while discovery hangs on the API server', async () => {
    let connected = 0;
    hung.on('connection', () => void connected++);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'scaler', '--listen', '127.0.0.1:0', '--kubernetes', 'on', '--kubeconfig', kubeconfig], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          if ((JSON.parse(line) as { msg?: string }).msg === 'scaler listening') resolve();
        });
        void exited.then((code) => reject(new Error(`scaler exited early with ${code}: ${stderr}`)));
      });
      // Let the ScaledObject list reach the hung server.
      const deadline = Date.now() + 5000;
      while (connected === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(connected > 0, 'the scaler is waiting on the API server');
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      child.kill('SIGTERM');
      const code = await exited;
      const ms = performance.now() - t0;
      console.log(`SIGTERM with a hung API server: exit ${code} after ${ms.toFixed(0)} ms (was 72.6 s)`);
      assert.equal(code, 0);
      assert.ok(ms < 5000, `exit took ${ms.toFixed(0)} ms`);
    } finally {
      clearTimeout(killTimer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('--kubernetes on with nothing configured refuses in one sentence (no http://localhost:8080)', () => {
    const env = { ...process.env, HOME: dir, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };
    for (const command of [['scaler'], ['collector', '--scaler', '127.0.0.1:9090']]) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...command, '--kubernetes', 'on'], { cwd, env, encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /Kubernetes mode is on but no API server is configured.*give --kubeconfig FILE, or --kubernetes off/);
      assert.doesNotMatch(r.stderr + r.stdout, /localhost:8080|\n\s+at /);
    }
  });
});
