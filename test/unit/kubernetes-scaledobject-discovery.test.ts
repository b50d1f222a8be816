import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { addressNamesScaler, discoverScaledObjects, type ScalerIdentity } from '../../src/kubernetes/scaledobject-discovery.js';
import { StandInApiServer } from '../helpers/kube-apiserver.js';
import { scaledObject } from '../helpers/kube-fixtures.js';

const identity: ScalerIdentity = { serviceName: 'keda-ebpf-scaler', namespace: 'keda-ebpf-scaler', port: 9090 };

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => { level: number; msg: string; reason?: string }[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: createLogger('info', sink),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string }),
  };
}

describe('scalerAddress matching', () => {
  const rows: [string, string, boolean][] = [
    ['keda-ebpf-scaler.keda-ebpf-scaler.svc.cluster.local:9090', 'shop', true],
    ['keda-ebpf-scaler.keda-ebpf-scaler.svc:9090', 'shop', true],
    ['keda-ebpf-scaler.keda-ebpf-scaler:9090', 'shop', true],
    ['KEDA-EBPF-SCALER.keda-ebpf-scaler.svc.cluster.local.:9090', 'shop', true],
    ['dns:///keda-ebpf-scaler.keda-ebpf-scaler.svc.cluster.local:9090', 'shop', true],
    ['keda-ebpf-scaler:9090', 'keda-ebpf-scaler', true], // short name, same namespace
    ['keda-ebpf-scaler:9090', 'shop', false], // short name resolves in the caller's namespace
    ['keda-ebpf-scaler.keda-ebpf-scaler:9091', 'shop', false],
    ['other-scaler.keda:9090', 'shop', false],
    ['[fd00::1]:9090', 'shop', false],
    ['', 'shop', false],
  ];
  for (const [address, ns, expected] of rows) {
    test(`${JSON.stringify(address)} from ${ns} -> ${expected}`, () => assert.equal(addressNamesScaler(address, ns, identity), expected));
  }
  test('extra hosts (an IP of the scaler)', () => {
    assert.ok(addressNamesScaler('[fd00::1]:9090', 'shop', { ...identity, extraHosts: ['fd00::1'] }));
  });
});

describe('discoverScaledObjects (stand-in API server)', () => {
  const api = new StandInApiServer();
  before(async () => {
    await api.start();
    const ours = 'keda-ebpf-scaler.keda-ebpf-scaler.svc.cluster.local:9090';
    api.apply(
      scaledObject({
        namespace: 'shop',
        name: 'checkout',
        triggers: [
          { type: 'external', metadata: { scalerAddress: ours, service: 'checkout', metric: 'latency', targetValue: '250' } },
          { type: 'cpu', metadata: { value: '80' } },
          { type: 'external-push', metadata: { scalerAddress: ours, service: 'checkout', metric: 'rps', targetValue: '100' } },
        ],
      }),
    );
    api.apply(scaledObject({ namespace: 'shop', name: 'foreign', triggers: [{ type: 'external', metadata: { scalerAddress: 'other.keda:9090' } }] }));
    api.apply(scaledObject({ namespace: 'blog', name: 'front', triggers: [{ type: 'external-push', metadata: { scalerAddress: 'keda-ebpf-scaler.keda-ebpf-scaler:9090', service: 'front' } }] }));
  });
  after(async () => {
    await api.stop();
  });

  test('returns every external/external-push trigger that points at this scaler, across namespaces', async () => {
    const { logger } = capturingLogger();
    const found = await discoverScaledObjects({ kubeConfig: api.kubeConfig(), logger, identity });
    const sorted = [...found].sort((a, b) => `${a.namespace}/${a.name}/${a.triggerIndex}`.localeCompare(`${b.namespace}/${b.name}/${b.triggerIndex}`));
    assert.deepEqual(
      sorted.map((t) => [t.namespace, t.name, t.triggerIndex, t.type, t.metadata.metric ?? '']),
      [
        ['blog', 'front', 0, 'external-push', ''],
        ['shop', 'checkout', 0, 'external', 'latency'],
        ['shop', 'checkout', 2, 'external-push', 'rps'],
      ],
    );
    assert.equal(sorted[1]?.metadata.scalerAddress, 'keda-ebpf-scaler.keda-ebpf-scaler.svc.cluster.local:9090');
    const listed = api.requests.find((r) => r.path === '/apis/keda.sh/v1alpha1/scaledobjects');
    assert.equal(listed?.query.limit, '500');
  });

  test('without RBAC for scaledobjects: one warning naming the permission, and [] (the scaler carries on)', async () => {
    api.deny('scaledobjects');
    const { logger, lines } = capturingLogger();
    const found = await discoverScaledObjects({ kubeConfig: api.kubeConfig(), logger, identity });
    api.allow('scaledobjects');
    assert.deepEqual(found, []);
    const warnings = lines().filter((l) => l.level === 40);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.reason ?? '', /forbidden to list scaledobjects\.keda\.sh cluster-wide.*"keda\.sh"/);
  });

  test('without the KEDA CRD: one warning saying so, and []', async () => {
    api.hide('scaledobjects');
    const { logger, lines } = capturingLogger();
    assert.deepEqual(await discoverScaledObjects({ kubeConfig: api.kubeConfig(), logger, identity }), []);
    const warnings = lines().filter((l) => l.level === 40);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.reason ?? '', /CRD \(keda\.sh\/v1alpha1\) is not installed/);
  });
});
