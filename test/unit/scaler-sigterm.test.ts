import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connectCollector, deltaFromLatencies, report } from '../helpers/scaler-collector.js';
import { scalerFlags } from '../../src/cli/scaler.js';
import { externalScalerClient, ref } from '../helpers/scaler-server.js';

/** The CLI as a process: SIGTERM ends KEDA's and collectors' streams with status OK and exits 0. */
describe('scaler CLI graceful shutdown', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: streams end with OK, process exits 0`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'scaler', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'info'], {
        cwd: new URL('../../', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      try {
        const port = await new Promise<number>((resolve, reject) => {
          const lines = createInterface({ input: child.stdout });
          lines.on('line', (line) => {
            const entry = JSON.parse(line) as { msg?: string; port?: number };
            if (entry.msg === 'scaler listening' && entry.port) resolve(entry.port);
          });
          void exited.then((code) => reject(new Error(`scaler exited early with ${code}`)));
        });
        const address = `127.0.0.1:${port}`;
        const client = externalScalerClient(address);
        const md = { port: '8080', targetValue: '1' };
        const statusOf = (stream: grpc.ClientReadableStream<unknown>) =>
          new Promise<{ status: grpc.StatusObject; messages: number }>((resolve) => {
            let messages = 0;
            stream.on('data', () => messages++);
            stream.on('error', () => undefined);
            stream.on('status', (status) => resolve({ status, messages }));
          });
        const active = client.StreamIsActive(ref(md));
        const spec = client.StreamMetricSpec(ref(md));
        const activeDone = statusOf(active);
        const specDone = statusOf(spec);
        const collector = await connectCollector(address);
        // The first StreamIsActive message waits for the collectors' first report on the target.
        const watched = await collector.waitForWatchSet((ws) => ws.targets.length > 0);
        collector.send(report(1, [deltaFromLatencies(watched.targets[0]!.target_id, [1000])]));
        await new Promise((r) => setTimeout(r, 200));
        const t0 = performance.now();
        child.kill(signal);
        const [a, s, c, code] = await Promise.all([activeDone, specDone, collector.status, exited]);
        console.log(`${signal}: streams ended and process exited in ${(performance.now() - t0).toFixed(0)} ms`);
        assert.equal(a.status.code, grpc.status.OK, `StreamIsActive: ${a.status.details}`);
        assert.ok(a.messages >= 1);
        assert.equal(s.status.code, grpc.status.OK, `StreamMetricSpec: ${s.status.details}`);
        assert.equal(s.messages, 1);
        assert.equal(c.code, grpc.status.OK, `collector stream: ${c.details}`);
        assert.equal(code, 0);
        client.close();
        collector.close();
      } finally {
        clearTimeout(killTimer);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }
});

describe('scaler CLI flags', () => {
  const cwd = new URL('../../', import.meta.url).pathname;
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'scaler', ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });

  it('--help documents every flag with its environment variable', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const flag of scalerFlags) {
      assert.ok(r.stdout.includes(`--${flag.name}`), flag.name);
      if ('env' in flag) assert.ok(r.stdout.includes(flag.env), flag.env);
    }
  });

  it('bad values from flags or environment exit 2 naming the flag and variable', () => {
    const fromEnv = run([], { KEDA_EBPF_MAX_TARGETS: 'many' });
    assert.equal(fromEnv.status, 2);
    assert.match(fromEnv.stderr, /--max-targets \(or \$KEDA_EBPF_MAX_TARGETS\)/);
    const fromFlag = run(['--target-idle-expiry', 'soon']);
    assert.equal(fromFlag.status, 2);
    assert.match(fromFlag.stderr, /--target-idle-expiry.*duration/);
    const tls = run(['--listen', '127.0.0.1:0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem']);
    assert.equal(tls.status, 2);
    assert.match(tls.stderr, /cannot read certificate \/nonexistent\/cert.pem/);
  });
});
