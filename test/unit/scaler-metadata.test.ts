import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ScalerError } from '../../src/errors.js';
import { parseTriggerMetadata, type TriggerConfig } from '../../src/scaler/metadata.js';
import { metricName, targetId } from '../../src/scaler/target.js';
import { callError, ref, startTestScaler, type TestScaler } from '../helpers/scaler-server.js';

/** Table tests for trigger metadata (KEDA style: rows of metadata and the expected outcome). */

const base = { port: '8080', targetValue: '10' };

const good: { name: string; metadata: Record<string, string>; expect: Partial<TriggerConfig> & { ports?: number[]; demand?: string[] } }[] = [
  { name: 'defaults', metadata: base, expect: { metric: 'latency', quantile: 0.95, windowMs: 30_000, activationRequests: 1, activationWindowMs: 60_000, targetValue: 10, ports: [8080] } },
  { name: 'unknown keys ignored (scalerAddress, custom)', metadata: { ...base, scalerAddress: 'x:9090', somethingElse: '?' }, expect: { metric: 'latency' } },
  { name: 'port list sorted and deduplicated', metadata: { ...base, port: ' 443, 80,443 ' }, expect: { ports: [80, 443] } },
  { name: 'rps metric, window 2m', metadata: { ...base, metric: 'rps', window: '2m' }, expect: { metric: 'rps', windowMs: 120_000 } },
  { name: 'concurrency, bare seconds window', metadata: { ...base, metric: 'concurrency', window: '45' }, expect: { metric: 'concurrency', windowMs: 45_000 } },
  { name: 'quantile 0.999', metadata: { ...base, quantile: '0.999' }, expect: { quantile: 0.999 } },
  { name: 'targetValue minimum 0.001', metadata: { ...base, targetValue: '0.001' }, expect: { targetValue: 0.001 } },
  { name: 'demandAddress only (IPv4 + IPv6)', metadata: { demandAddress: '[FD00::1]:80,10.0.0.1:8080', targetValue: '1' }, expect: { demand: ['10.0.0.1:8080', '[fd00::1]:80'], ports: [] } },
  { name: 'netns with port', metadata: { ...base, netns: '/run/netns/web' }, expect: {} },
  { name: 'activation keys', metadata: { ...base, activationRequests: '5', activationWindow: '10m' }, expect: { activationRequests: 5, activationWindowMs: 600_000 } },
  { name: 'service mode parses (resolving needs Kubernetes)', metadata: { service: 'web', servicePort: 'http', targetValue: '1' }, expect: {} },
  { name: 'empty values count as absent', metadata: { ...base, metric: '', window: ' ' }, expect: { metric: 'latency', windowMs: 30_000 } },
  { name: 'holdAtZero off by default', metadata: base, expect: { holdAtZeroMs: 0 } },
  { name: 'holdAtZero 30s (standalone)', metadata: { ...base, demandAddress: '10.0.0.1:80', holdAtZero: '30s' }, expect: { holdAtZeroMs: 30_000 } },
  { name: 'holdAtZero 2m with service', metadata: { service: 'web', targetValue: '1', holdAtZero: '2m' }, expect: { holdAtZeroMs: 120_000 } },
  { name: 'holdAtZero 0 is off', metadata: { ...base, holdAtZero: '0' }, expect: { holdAtZeroMs: 0 } },
];

/** Every key with a wrong value, a missing targetValue, and the cross-field rules. */
const bad: { name: string; metadata: Record<string, string>; key: string; form: RegExp }[] = [
  { name: 'service not a DNS label', metadata: { service: 'Web_1', targetValue: '1' }, key: 'service', form: /DNS-1035/ },
  { name: 'servicePort out of range', metadata: { service: 'web', servicePort: '70000', targetValue: '1' }, key: 'servicePort', form: /port name or number/ },
  { name: 'servicePort without service', metadata: { ...base, servicePort: 'http' }, key: 'servicePort', form: /together with "service"/ },
  { name: 'port not a number', metadata: { ...base, port: 'http' }, key: 'port', form: /comma list of TCP ports/ },
  { name: 'port 0', metadata: { ...base, port: '0' }, key: 'port', form: /1-65535/ },
  { name: 'port list with a hole', metadata: { ...base, port: '80,,81' }, key: 'port', form: /comma list/ },
  { name: 'netns relative', metadata: { ...base, netns: 'run/netns/web' }, key: 'netns', form: /absolute path/ },
  { name: 'netns without port', metadata: { demandAddress: '10.0.0.1:80', netns: '/run/netns/x', targetValue: '1' }, key: 'netns', form: /together with "port"/ },
  { name: 'demandAddress without port', metadata: { demandAddress: '10.0.0.1', targetValue: '1' }, key: 'demandAddress', form: /ip:port/ },
  { name: 'demandAddress IPv6 without brackets', metadata: { demandAddress: 'fd00::1:80', targetValue: '1' }, key: 'demandAddress', form: /\[addr\]:port/ },
  { name: 'demandAddress hostname', metadata: { demandAddress: 'web:80', targetValue: '1' }, key: 'demandAddress', form: /ip:port/ },
  { name: 'metric unknown', metadata: { ...base, metric: 'p95' }, key: 'metric', form: /latency, rps, concurrency/ },
  { name: 'quantile 1', metadata: { ...base, quantile: '1' }, key: 'quantile', form: /strictly between 0 and 1/ },
  { name: 'quantile 95', metadata: { ...base, quantile: '95' }, key: 'quantile', form: /strictly between 0 and 1/ },
  { name: 'quantile text', metadata: { ...base, quantile: 'p95' }, key: 'quantile', form: /between 0 and 1/ },
  { name: 'targetValue missing', metadata: { port: '8080' }, key: 'targetValue', form: /required/ },
  { name: 'targetValue 0', metadata: { ...base, targetValue: '0' }, key: 'targetValue', form: /from 0.001 to 1000000000/ },
  { name: 'targetValue negative', metadata: { ...base, targetValue: '-5' }, key: 'targetValue', form: /from 0.001/ },
  { name: 'targetValue 1e308', metadata: { ...base, targetValue: '1e308' }, key: 'targetValue', form: /to 1000000000/ },
  { name: 'targetValue Infinity', metadata: { ...base, targetValue: 'Infinity' }, key: 'targetValue', form: /number/ },
  { name: 'window unit unknown', metadata: { ...base, window: '30 seconds' }, key: 'window', form: /duration/ },
  { name: 'window too long', metadata: { ...base, window: '11m' }, key: 'window', form: /10m/ },
  { name: 'window sub-second', metadata: { ...base, window: '1500ms' }, key: 'window', form: /whole seconds/ },
  { name: 'activationRequests 0', metadata: { ...base, activationRequests: '0' }, key: 'activationRequests', form: /integer >= 1/ },
  { name: 'activationRequests fraction', metadata: { ...base, activationRequests: '1.5' }, key: 'activationRequests', form: /integer/ },
  { name: 'activationWindow 0s', metadata: { ...base, activationWindow: '0s' }, key: 'activationWindow', form: /1s/ },
  { name: 'nothing to observe', metadata: { targetValue: '1' }, key: 'port', form: /nothing to observe/ },
  { name: 'holdAtZero not a duration', metadata: { ...base, demandAddress: '10.0.0.1:80', holdAtZero: 'forever' }, key: 'holdAtZero', form: /duration from 1s to 2m/ },
  { name: 'holdAtZero too short', metadata: { ...base, demandAddress: '10.0.0.1:80', holdAtZero: '500ms' }, key: 'holdAtZero', form: /1s to 2m/ },
  { name: 'holdAtZero too long', metadata: { ...base, demandAddress: '10.0.0.1:80', holdAtZero: '5m' }, key: 'holdAtZero', form: /1s to 2m/ },
  { name: 'holdAtZero without demandAddress', metadata: { ...base, holdAtZero: '30s' }, key: 'holdAtZero', form: /"demandAddress" and "port"/ },
  { name: 'holdAtZero without port', metadata: { demandAddress: '10.0.0.1:80', targetValue: '1', holdAtZero: '30s' }, key: 'holdAtZero', form: /server whose readiness/ },
];

describe('trigger metadata (pure)', () => {
  for (const row of good) {
    it(`accepts: ${row.name}`, () => {
      const t = parseTriggerMetadata(row.metadata, 'default');
      const { ports, demand, ...rest } = row.expect;
      for (const [k, v] of Object.entries(rest)) assert.deepEqual(t[k as keyof TriggerConfig], v, k);
      if (ports) assert.deepEqual(t.selection.ports, ports);
      if (demand) assert.deepEqual(t.selection.demandAddresses, demand);
    });
  }
  for (const row of bad) {
    it(`rejects: ${row.name}`, () => {
      assert.throws(
        () => parseTriggerMetadata(row.metadata),
        (err: unknown) => {
          assert.ok(err instanceof ScalerError);
          assert.equal(err.code, 'INVALID_METADATA');
          assert.ok(err.message.includes(`metadata "${row.key}"`), `names the key: ${err.message}`);
          assert.match(err.message, row.form);
          return true;
        },
      );
    });
  }
});

describe('target identity and metric names', () => {
  const parse = (m: Record<string, string>) => parseTriggerMetadata({ targetValue: '1', ...m }, 'ns');

  it('same selection, written differently -> same target id; different selection -> different id', () => {
    assert.equal(targetId(parse({ port: '80,443' }).selection), targetId(parse({ port: '443, 80', metric: 'rps' }).selection));
    assert.notEqual(targetId(parse({ port: '80' }).selection), targetId(parse({ port: '81' }).selection));
    assert.notEqual(targetId(parse({ port: '80' }).selection), targetId(parse({ port: '80', netns: '/run/netns/a' }).selection));
    assert.notEqual(targetId(parse({ port: '80' }).selection), targetId(parse({ port: '80', demandAddress: '10.0.0.1:80' }).selection));
    // A Service is namespace-scoped: same name in two namespaces is two targets.
    assert.notEqual(targetId(parseTriggerMetadata({ service: 'web', targetValue: '1' }, 'a').selection), targetId(parseTriggerMetadata({ service: 'web', targetValue: '1' }, 'b').selection));
  });

  it('metric names: deterministic, path-safe, distinct per metric/quantile/window/selection', () => {
    const variants: Record<string, string>[] = [
      { port: '80' },
      { port: '80', quantile: '0.99' },
      { port: '80', quantile: '0.999' },
      { port: '80', quantile: '0.0001' },
      { port: '80', metric: 'rps' },
      { port: '80', metric: 'concurrency' },
      { port: '80', metric: 'rps', window: '2m' },
      { port: '81' },
    ];
    const names = variants.map((v) => metricName(parse(v)));
    assert.equal(new Set(names).size, names.length, names.join(' '));
    for (const n of names) assert.match(n, /^[a-z0-9-_]+$/, `path-safe: ${n}`);
    assert.equal(metricName(parse({ port: '80' })), metricName(parse({ port: '80', targetValue: '7', scalerAddress: 'y' })));
    assert.match(names[0]!, /^ebpf-latency-p95-[0-9a-f]{12}$/);
    assert.match(names[2]!, /^ebpf-latency-p99_9-/);
    assert.match(names[6]!, /^ebpf-rps-w2m-/);
  });
});

describe('trigger metadata over gRPC: every bad row -> INVALID_ARGUMENT naming the key', () => {
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler();
  });
  after(async () => {
    await scaler.close();
  });

  it('answers each bad row with INVALID_ARGUMENT and stays up', async () => {
    for (const row of bad) {
      const err = await callError((cb) => scaler.client.GetMetricSpec(ref(row.metadata), cb));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, row.name);
      assert.ok(err.details.includes(`metadata "${row.key}"`), `${row.name}: ${err.details}`);
    }
    const ok = await callError((cb) => scaler.client.GetMetrics({ scaledObjectRef: ref(base), metricName: 'nope' }, cb));
    assert.equal(ok.code, grpc.status.NOT_FOUND, 'valid metadata still served after the bad rows');
  });
});
