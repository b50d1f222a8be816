import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../src/log.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/http-server.js';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import { ScalerMetrics } from '../../src/metrics/scaler-metrics.js';
import { connectCollector, deltaFromLatencies, report, type TestCollector } from '../helpers/scaler-collector.js';
import { families, promtoolCheck, sample, scrape } from '../helpers/metrics-text.js';
import { callError, ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';

/**
 * The scaler's Prometheus metrics over a real scrape endpoint: KEDA-shaped calls and
 * collector reports move the counters; the exposition passes `promtool check metrics`.
 */

const metadata = { port: '8080', metric: 'latency', targetValue: '50' };

describe('scaler metrics', () => {
  let scaler: TestScaler;
  let endpoint: MetricsServer;
  let collector: TestCollector;
  let url: string;

  before(async () => {
    const registry = createMetricsRegistry();
    scaler = await startTestScaler({ metrics: new ScalerMetrics(registry) });
    endpoint = await startMetricsServer('127.0.0.1:0', registry, createLogger('silent'));
    url = `http://127.0.0.1:${endpoint.port}/metrics`;
    collector = await connectCollector(scaler.ingestAddress);
  });
  after(async () => {
    collector.close();
    await endpoint.close();
    await scaler.close();
  });

  it('counters move with KEDA calls and collector reports; the per-target gauges show what KEDA was told', async () => {
    const before = await scrape(url);
    assert.equal(sample(before, 'keda_ebpf_keda_requests_total', { method: 'IsActive' }), undefined);
    assert.equal(sample(before, 'keda_ebpf_collectors_connected'), 1);

    const spec = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => scaler.client.GetMetricSpec(ref(metadata), cb));
    const name = spec.metricSpecs[0]!.metricName;
    const id = name.split('-').at(-1)!;
    collector.send(report(1, [deltaFromLatencies(id, [20_000, 40_000, 60_000], { listen_syn_drops: 3, listen_ack_drops: 2 })]));
    collector.send({ ...report(2, []), interval_ms: -5 });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref(metadata), cb))).result, true);
    await unaryCall((cb) => scaler.client.GetMetrics({ scaledObjectRef: ref(metadata, 'web', 'shop'), metricName: name }, cb));
    const bad = await callError((cb) => scaler.client.IsActive(ref({ port: '8080', targetValue: 'x' }), cb));
    assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
    const stream = scaler.client.StreamIsActive(ref(metadata));
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));

    const text = await scrape(url);
    assert.equal(sample(text, 'keda_ebpf_keda_requests_total', { method: 'IsActive', code: 'OK' }), 1);
    assert.equal(sample(text, 'keda_ebpf_keda_requests_total', { method: 'IsActive', code: 'INVALID_ARGUMENT' }), 1);
    assert.equal(sample(text, 'keda_ebpf_keda_requests_total', { method: 'GetMetricSpec', code: 'OK' }), 1);
    assert.equal(sample(text, 'keda_ebpf_keda_request_duration_seconds_count', { method: 'GetMetrics', code: 'OK' }), 1);
    assert.equal(sample(text, 'keda_ebpf_open_streams', { kind: 'StreamIsActive' }), 1);
    assert.equal(sample(text, 'keda_ebpf_open_streams', { kind: 'collector' }), 1);
    assert.equal(sample(text, 'keda_ebpf_reports_total', { result: 'accepted' }), 1);
    assert.equal(sample(text, 'keda_ebpf_reports_total', { result: 'rejected' }), 1);
    assert.equal(sample(text, 'keda_ebpf_report_rejections_total', { reason: 'report.interval_ms' }), 1);
    assert.equal(sample(text, 'keda_ebpf_report_lag_seconds_count'), 2);
    assert.equal(sample(text, 'keda_ebpf_targets'), 1);
    assert.ok((sample(text, 'keda_ebpf_window_store_slots') ?? 0) > 0);
    assert.equal(sample(text, 'keda_ebpf_target_active', { target_id: id, scaled_objects: 'default/web,shop/web' }), 1);
    const p95 = sample(text, 'keda_ebpf_target_metric_value', { target_id: id, metric: 'latency-p95' });
    assert.ok(p95 !== undefined && p95 > 50 && p95 < 70, `p95 told to KEDA: ${p95}`);
    // 5 dropped attempts in one report of a 1 s interval: 5 per second over the time covered.
    assert.equal(sample(text, 'keda_ebpf_target_listen_drops_per_second', { target_id: id }), 5);
    assert.ok(families(text).has('keda_ebpf_process_cpu_seconds_total'), 'default process metrics, prefixed');

    stream.cancel();
    await new Promise((r) => setTimeout(r, 100));
    const after = await scrape(url);
    assert.equal(sample(after, 'keda_ebpf_open_streams', { kind: 'StreamIsActive' }), 0);
    assert.equal(sample(after, 'keda_ebpf_keda_requests_total', { method: 'StreamIsActive', code: 'CANCELLED' }), 1);
  });

  it('the exposition passes promtool check metrics', async () => {
    const { code, output } = await promtoolCheck(await scrape(url));
    assert.equal(output.trim(), '');
    assert.equal(code, 0);
  });

  it('other paths answer 404', async () => {
    const res = await fetch(`http://127.0.0.1:${endpoint.port}/`);
    assert.equal(res.status, 404);
  });
});
