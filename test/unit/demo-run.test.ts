import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { runDemo } from '../../src/demo/run-demo.js';
import { DemoOptions } from '../../src/demo/options.js';
import type { DemoTarget, MetricsSample, MetricsSource } from '../../src/demo/types.js';

/**
 * A metrics source built from the load generator's own figures, defined like the
 * scaler's: active = any attempt within the activation window; rps = completed + refused
 * per second over the window; concurrency = sum of latencies / window.
 */
class ClientSideMetrics implements MetricsSource {
  target: DemoTarget | undefined;
  samples = 0;
  closed = false;
  async prepare(target: DemoTarget): Promise<void> {
    this.target = target;
  }
  async sample(nowMs: number): Promise<MetricsSample> {
    const t = this.target;
    if (!t) throw new Error('prepare() was not called');
    this.samples++;
    const w = t.clientStats(nowMs, t.windowMs);
    const activity = t.clientStats(nowMs, t.activationWindowMs);
    return {
      active: activity.attempts > 0,
      rps: w.rps + w.refusedRps,
      p50Ms: w.p50Ms,
      p95Ms: w.p95Ms,
      p99Ms: w.p99Ms,
      concurrency: w.concurrency,
    };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
}

test('run-demo (client-side metrics source): short plan x0.25 shows all four story checks', async () => {
  const out = new PassThrough();
  const text = collect(out);
  const metrics = new ClientSideMetrics();
  const started = performance.now();
  const result = await runDemo({
    metrics,
    out,
    isTTY: false,
    log: createLogger('silent'),
    short: true,
    timeScale: 0.25,
    sampleIntervalMs: 100,
    activationSampleIntervalMs: 50,
    plainLineEveryMs: 250,
    lingerMs: 200,
  });
  const elapsed = performance.now() - started;
  const output = text();
  console.log(output.split('\n').filter((l) => l.includes('[PASS]') || l.includes('[FAIL]')).join('\n'));
  assert.ok(metrics.target, 'prepare() got the target');
  assert.equal(metrics.target.port, result.port);
  assert.equal(metrics.target.triggerMetadata.rps['demandAddress'], `127.0.0.1:${result.port}`);
  assert.equal(metrics.target.triggerMetadata.latencyP95['quantile'], '0.95');
  assert.ok(metrics.closed, 'close() called');

  assert.equal(result.checks.activationFromZero.ok, true, result.checks.activationFromZero.detail);
  assert.equal(result.checks.scaleUp.ok, true, result.checks.scaleUp.detail);
  assert.equal(result.checks.scaleDown.ok, true, result.checks.scaleDown.detail);
  assert.equal(result.checks.returnToInactive.ok, true, result.checks.returnToInactive.detail);
  assert.equal(result.ok, true);
  // Lazy server: the first request met a closed port and counted as demand.
  assert.equal(result.client.refused, 1);
  assert.ok(result.checks.activationFromZero.delayMs! < 500, `activation after ${result.checks.activationFromZero.delayMs} ms`);
  assert.ok(result.checks.scaleUp.peak.rps >= 4, `rps peak ${result.checks.scaleUp.peak.rps}`);
  assert.ok(result.client.completed > 300);
  assert.ok(result.client.sent <= 2_000);
  assert.ok(elapsed < 20_000, `demo took ${elapsed} ms`);
  assert.deepEqual(result.phases.map((p) => p.phase), ['idle', 'first-request', 'ramp-up', 'ramp-down', 'final-idle']);
  assert.equal(result.phases[0]!.active, 'no');
  assert.equal(result.phases[2]!.active, 'yes');

  assert.match(output, /--- phase ramp-up at t=/);
  assert.match(output, /^t=\d+\.\ds phase=idle .*active=no/m);
  assert.match(output, /phase=ramp-up .*active=yes/);
  assert.equal(output.match(/\[PASS\]/g)?.length, 4);
  assert.match(output, /All four checks passed\./);
  assert.doesNotMatch(output, /\x1b/, 'plain mode writes no escape codes');
});

test('run-demo: options are validated (non-loopback host, min > max replicas)', () => {
  assert.throws(() => DemoOptions.parse({ host: '10.1.2.3' }), /loopback/);
  assert.throws(() => DemoOptions.parse({ minReplicas: 5, maxReplicas: 2 }), /minReplicas/);
  const d = DemoOptions.parse({});
  assert.equal(d.latencyTargetMs, 50);
  assert.equal(d.rpsTarget, 100);
  assert.equal(d.concurrencyTarget, 4);
  assert.equal(d.lazyServer, true);
});

test('demo flags: argv and env map onto DemoOptions', async () => {
  const { demoOptionsFromArgv } = await import('../../src/demo/flags.js');
  const o = demoOptionsFromArgv(['--short', '--port', '18080', '--quantile', 'p99', '--rps-target', '50', '--eager-server'], {});
  assert.deepEqual(o, { short: true, lazyServer: false, holdAtZeroMs: 10_000, serverPort: 18080, latencyQuantile: 'p99', rpsTarget: 50 });
  const parsed = DemoOptions.parse(o);
  assert.equal(parsed.serverPort, 18080);
  assert.deepEqual(demoOptionsFromArgv([], { DEMO_SHORT: '1' }), { short: true, lazyServer: true, holdAtZeroMs: 10_000 });
  assert.equal(demoOptionsFromArgv(['--hold-at-zero', '0'], {}).holdAtZeroMs, 0);
  assert.equal(demoOptionsFromArgv(['--hold-at-zero', '30s'], {}).holdAtZeroMs, 30_000);
  assert.throws(() => demoOptionsFromArgv(['--hold-at-zero', '5m'], {}), /--hold-at-zero.*1s to 2m/);
  assert.throws(() => demoOptionsFromArgv(['--port', 'abc'], {}), /--port.*must be a number/);
  assert.throws(() => demoOptionsFromArgv(['--bogus'], {}), /unknown flag --bogus/);
});

test('run-demo: a failing metrics source is shown, the demo still ends, and every check fails', async () => {
  const out = new PassThrough();
  const text = collect(out);
  let closed = false;
  const broken: MetricsSource = {
    sample: async () => {
      throw new Error('scaler unreachable');
    },
    close: async () => {
      closed = true;
    },
  };
  const result = await runDemo({
    metrics: broken,
    out,
    isTTY: true,
    log: createLogger('silent'),
    short: true,
    timeScale: 0.1,
    sampleIntervalMs: 100,
    activationSampleIntervalMs: 50,
  });
  const output = text();
  assert.equal(result.ok, false);
  for (const check of Object.values(result.checks)) assert.equal(check.ok, false);
  assert.ok(closed);
  assert.ok(output.startsWith('\x1b[?25l\x1b[2J'), 'TTY mode enters the live view');
  assert.ok(output.includes('\x1b[H'), 'TTY mode redraws in place');
  assert.ok(output.includes('scaler error: scaler unreachable'));
  assert.equal(output.match(/\[FAIL\]/g)?.length, 4);
  // Without activation the lazy server still starts for the ramp, so the load is served.
  assert.equal(result.client.refused, 1);
  assert.ok(result.client.completed > 100);
});
