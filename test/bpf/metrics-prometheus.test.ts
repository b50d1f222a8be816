import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { startDelayServer, startLoad } from '../helpers/e2e-load.js';
import { ProcessGroup, freePort, requireE2e, sleep, startCollectorProcess, startScalerProcess, startStandalone, type CliProcess } from '../helpers/e2e-processes.js';
import { families, promtoolCheck, sample, scrape } from '../helpers/metrics-text.js';

/**
 * Issue 9, acceptance 2: a running standalone (real eBPF collector in process) under load,
 * asked KEDA-shaped questions, exposes Prometheus metrics that
 * - pass `promtool check metrics`, for the standalone and for a separate `collector`;
 * - move with the calls and reports (asserted on the scrape);
 * - are scraped by Debian's real `prometheus` server (own config and storage in a temp dir,
 *   loopback only, bounded wait), which answers one counter back through its HTTP query API;
 * - cover every metric name the Grafana dashboard (manifests/grafana) queries.
 */

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';
const DASHBOARD = fileURLToPath(new URL('../../manifests/grafana/keda-ebpf-scaler.json', import.meta.url));
const PROMETHEUS_WAIT_MS = 40_000;

const group = new ProcessGroup();
let statsBefore: string | undefined;
let dataDir: string | undefined;

before(() => {
  requireE2e();
  // Per-program run counters need kernel.bpf_stats_enabled; restored afterwards.
  statsBefore = readFileSync(STATS_SYSCTL, 'utf8').trim();
  writeFileSync(STATS_SYSCTL, '1');
});
after(async () => {
  await group.killAll();
  if (statsBefore !== undefined) writeFileSync(STATS_SYSCTL, statsBefore);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const metricsPort = async (proc: CliProcess): Promise<number> => {
  const line = await proc.waitForLog((l) => l.msg === 'metrics listening' && typeof l.port === 'number', 5000, 'metrics listening');
  return line.port!;
};

/** Metric names a PromQL expression reads (histogram series mapped to their family). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bkeda_ebpf_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

test('standalone metrics: promtool-clean, moving with KEDA calls and reports, scraped by a real Prometheus, covering the dashboard', async () => {
  const { proc: standalone, address } = await startStandalone(group, 'standalone', '250ms');
  const standaloneMetrics = `http://127.0.0.1:${await metricsPort(standalone)}/metrics`;
  // A separate collector process reports to its own scaler process (standalone has no ingest port).
  const ingestPort = await freePort();
  await startScalerProcess(group, 'scaler', await freePort(), ingestPort);
  const ingestAddress = `127.0.0.1:${ingestPort}`;
  const collector = await startCollectorProcess(group, 'collector', [ingestAddress], '250ms');
  const collectorMetrics = `http://127.0.0.1:${await metricsPort(collector)}/metrics`;

  const server = await startDelayServer((c, a) => group.spawn(c, a), '127.0.0.1');
  const load = startLoad((c, a) => group.spawn(c, a), '127.0.0.1', server.port, [{ rate: 50, delayMs: 2, seconds: 30 }], 2);
  await load.phaseStarted(0);
  const client = new KedaClient(address);
  const ref: KedaRef = { name: 'web', namespace: 'shop', metadata: { scalerAddress: address, port: String(server.port), metric: 'rps', targetValue: '10' } };
  const name = await client.metricName(ref);
  const targetId = name.split('-').at(-1)!;
  const before = await scrape(standaloneMetrics);
  const CALLS = 5;
  let lastValue = NaN;
  for (let i = 0; i < CALLS; i++) {
    assert.equal(await client.isActive(ref), true);
    lastValue = await client.metricValue(ref, name);
    await sleep(300);
  }
  const text = await scrape(standaloneMetrics);
  const collectorText = await scrape(collectorMetrics);
  client.close();

  // Counters move with KEDA-shaped calls and collector reports.
  assert.equal(sample(text, 'keda_ebpf_keda_requests_total', { method: 'IsActive', code: 'OK' }), CALLS);
  assert.equal(sample(text, 'keda_ebpf_keda_requests_total', { method: 'GetMetrics', code: 'OK' }), CALLS);
  const accepted = (t: string): number => sample(t, 'keda_ebpf_reports_total', { result: 'accepted' }) ?? 0;
  assert.ok(accepted(text) > accepted(before), `reports accepted moved: ${accepted(before)} -> ${accepted(text)}`);
  assert.equal(sample(text, 'keda_ebpf_collectors_connected'), 1, 'the in-process collector');
  assert.equal(sample(text, 'keda_ebpf_target_active', { target_id: targetId, scaled_objects: 'shop/web' }), 1);
  // Exactly the last GetMetrics answer.
  assert.ok(lastValue > 0);
  assert.equal(sample(text, 'keda_ebpf_target_metric_value', { target_id: targetId, metric: 'rps' }), lastValue);
  assert.equal(sample(text, 'keda_ebpf_collector_hook_rung_info', { rung: 'tp_btf' }), 1);
  assert.ok((sample(text, 'keda_ebpf_collector_watched_targets') ?? 0) >= 1);
  assert.ok((sample(text, 'keda_ebpf_collector_tick_duration_seconds_count') ?? 0) > 0);
  const programRuns = [...text.matchAll(/^keda_ebpf_collector_program_runs_total\{program="([^"]+)"\} (\d+)/gm)].map((m) => [m[1], Number(m[2])] as const);
  console.log(`metrics-prometheus: program runs with bpf_stats on: ${JSON.stringify(programRuns)}`);
  assert.ok(programRuns.some(([, n]) => n > 0), 'the kernel counted program runs');
  assert.ok((sample(collectorText, 'keda_ebpf_collector_scaler_connects_total', { scaler: ingestAddress }) ?? 0) >= 1);
  assert.equal(sample(collectorText, 'keda_ebpf_collector_scaler_connected', { scaler: ingestAddress }), 1);

  // promtool: both expositions are clean.
  for (const [what, t] of [['standalone', text], ['collector', collectorText]] as const) {
    const { code, output } = await promtoolCheck(t);
    assert.equal(output.trim(), '', `${what}: promtool check metrics`);
    assert.equal(code, 0);
  }

  // Every metric the dashboard queries exists in the exposition.
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
  const exposed = new Set([...families(text), ...families(collectorText)]);
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets.length > 0, `panel "${panel.title}" queries something`);
    for (const t of panel.targets) for (const metric of metricNames(t.expr)) assert.ok(exposed.has(metric), `panel "${panel.title}": ${metric} is not exposed`);
  }

  // A real Prometheus scrapes the standalone and answers a counter through its query API.
  dataDir = mkdtempSync(join(tmpdir(), 'prometheus-'));
  const config = join(dataDir, 'prometheus.yml');
  writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: standalone', '    static_configs:', `      - targets: ['${new URL(standaloneMetrics).host}']`, ''].join('\n'),
  );
  const promPort = await freePort();
  const prometheus = group.spawn('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dataDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--storage.tsdb.retention.time=1h',
  ]);
  let promLog = '';
  prometheus.stderr?.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
  const query = `keda_ebpf_keda_requests_total{method="IsActive",code="OK"}`;
  const deadline = Date.now() + PROMETHEUS_WAIT_MS;
  let answer: { job?: string; value?: number } | undefined;
  while (Date.now() < deadline && !answer) {
    await sleep(500);
    try {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      const first = body.data?.result[0];
      if (body.status === 'success' && first) answer = { job: first.metric.job, value: Number(first.value[1]) };
    } catch {
      // not up yet
    }
  }
  console.log(`metrics-prometheus: Prometheus answered ${query} = ${JSON.stringify(answer)}`);
  assert.ok(answer, `Prometheus did not return ${query} within ${PROMETHEUS_WAIT_MS} ms:\n${promLog}`);
  assert.equal(answer.job, 'standalone');
  assert.equal(answer.value, CALLS);
  load.child.kill('SIGKILL');
});
