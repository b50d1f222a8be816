import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { kubernetesScalerMode, type KubernetesScalerMode } from '../../src/kubernetes/scaler-mode.js';
import { createLogger } from '../../src/log.js';
import type { GetMetricSpecResponse__Output } from '../../src/proto/generated/externalscaler/GetMetricSpecResponse.js';
import type { WatchSet } from '../../src/proto/generated/kedaebpf/collector/v1/WatchSet.js';
import { StandInApiServer } from '../helpers/kube-apiserver.js';
import { endpointSlice, scaledObject, service } from '../helpers/kube-fixtures.js';
import { waitFor } from '../helpers/kube-wait.js';
import { hello } from '../helpers/scaler-collector.js';
import { ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';

const logger = createLogger('silent');

describe('scaler in Kubernetes mode (stand-in API server)', () => {
  const api = new StandInApiServer();
  let mode: KubernetesScalerMode;
  let scaler: TestScaler;

  before(async () => {
    await api.start();
    api.apply(service({ namespace: 'shop', name: 'web', clusterIPs: ['10.96.0.10', 'fd00::a'], selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    api.apply(
      scaledObject({
        namespace: 'shop',
        name: 'web',
        triggers: [{ type: 'external-push', metadata: { scalerAddress: 'keda-ebpf-scaler.keda-ebpf-scaler:9090', service: 'web', metric: 'rps', targetValue: '100' } }],
      }),
    );
    api.apply(
      scaledObject({
        namespace: 'shop',
        name: 'elsewhere',
        triggers: [{ type: 'external', metadata: { scalerAddress: 'some-other-scaler.other:9090', service: 'web', targetValue: '1' } }],
      }),
    );
    mode = kubernetesScalerMode({ kubeConfig: api.kubeConfig(), identity: { serviceName: 'keda-ebpf-scaler', namespace: 'keda-ebpf-scaler', port: 9090 }, logger });
    scaler = await startTestScaler({ resolver: mode.resolver });
  });
  after(async () => {
    await scaler.close();
    await mode.close();
    await api.stop();
  });

  test('start-up pre-registers only the ScaledObjects whose scalerAddress names this scaler, resolved through the Service', async () => {
    assert.equal(await mode.attach(scaler.server.registry), 1);
    const targets = scaler.server.registry.list();
    assert.equal(targets.length, 1);
    assert.deepEqual(targets[0]!.resolved, {
      servers: [{ port: 8080, netnsPath: '', podNamespace: 'shop', podSelector: { app: 'web' } }],
      demandAddresses: ['10.96.0.10:80', '[fd00::a]:80'],
      endpointsReady: false,
    });
  });

  test('GetMetricSpec with `service` works; an unknown Service is NOT_FOUND naming it', async () => {
    const spec = await unaryCall<GetMetricSpecResponse__Output>((cb) => scaler.client.GetMetricSpec(ref({ service: 'web', metric: 'rps', targetValue: '100' }, 'web', 'shop'), cb));
    assert.equal(spec.metricSpecs.length, 1);
    await assert.rejects(
      unaryCall((cb) => scaler.client.GetMetricSpec(ref({ service: 'nope', targetValue: '1' }, 'web', 'shop'), cb)),
      (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && /Service "nope" not found in namespace "shop"/.test(err.details),
    );
  });

  test('a new ClusterIP reaches the collectors as a new watch set', async () => {
    const session = scaler.server.ingest.openSession(hello());
    const seen: WatchSet[] = [];
    const off = session.onWatchSet((ws) => seen.push(ws));
    try {
      api.apply(service({ namespace: 'shop', name: 'web', clusterIPs: ['10.96.0.99'], selector: { app: 'web', tier: 'front' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
      await waitFor('watch set with the new ClusterIP', () => seen.some((ws) => ws.targets?.some((t) => t.demand_addresses?.includes('10.96.0.99:80'))));
      const target = seen.at(-1)!.targets!.find((t) => t.demand_addresses?.includes('10.96.0.99:80'))!;
      assert.deepEqual(target.servers?.[0]?.pod_selector, { app: 'web', tier: 'front' });
    } finally {
      off();
      session.close();
    }
  });

  test('holdAtZero: the watch set says hold while the Service has no ready endpoint, and ready once it has one', async () => {
    api.apply(service({ namespace: 'shop', name: 'held', clusterIPs: ['10.96.0.70'], selector: { app: 'held' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    const meta = { service: 'held', metric: 'rps', targetValue: '10', holdAtZero: '30s' };
    await unaryCall((cb) => scaler.client.IsActive(ref(meta, 'held', 'shop'), cb));
    const session = scaler.server.ingest.openSession(hello());
    const seen: WatchSet[] = [session.watchSet()];
    const off = session.onWatchSet((ws) => seen.push(ws));
    const held = (ws: WatchSet) => ws.targets?.find((t) => t.demand_addresses?.includes('10.96.0.70:80'));
    try {
      assert.deepEqual([held(seen[0]!)?.hold_at_zero_ms, held(seen[0]!)?.ready], [30_000, false]);
      // A pod listed but not ready yet releases nothing; a ready one does.
      api.apply(endpointSlice({ namespace: 'shop', service: 'held', suffix: 'a', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.244.0.5', podName: 'held-1', nodeName: 'n', ready: false }] }));
      api.apply(endpointSlice({ namespace: 'shop', service: 'held', suffix: 'a', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.244.0.5', podName: 'held-1', nodeName: 'n', ready: true }] }));
      await waitFor('watch set saying ready', () => held(seen.at(-1)!)?.ready === true);
      assert.equal(held(seen.at(-1)!)?.hold_at_zero_ms, 30_000);
      api.remove('EndpointSlice', 'shop', 'held-a');
      await waitFor('watch set back to holding', () => held(seen.at(-1)!)?.ready === false);
      // The trigger drops the key: nothing is held any more.
      await unaryCall((cb) => scaler.client.IsActive(ref({ ...meta, holdAtZero: '' }, 'held', 'shop'), cb));
      assert.equal(held(session.watchSet())?.hold_at_zero_ms, 0);
    } finally {
      off();
      session.close();
    }
  });
});
