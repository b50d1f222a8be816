import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { KubernetesError } from '../../src/kubernetes/errors.js';
import { ServiceResolver, type ServiceResolution } from '../../src/kubernetes/service-resolver.js';
import { endpointSliceSchema, parseWith, serviceSchema } from '../../src/kubernetes/objects.js';
import { resolveService } from '../../src/kubernetes/service-resolution.js';
import { StandInApiServer } from '../helpers/kube-apiserver.js';
import { endpointSlice, service } from '../helpers/kube-fixtures.js';
import { Recorder, testBackoff, waitFor } from '../helpers/kube-wait.js';

const logger = createLogger('silent');
const ns = 'shop';

describe('ServiceResolver (stand-in API server)', () => {
  const api = new StandInApiServer();
  let resolver: ServiceResolver;

  before(async () => {
    await api.start();
  });
  after(async () => {
    await api.stop();
  });
  beforeEach(async () => {
    await resolver?.close();
    resolver = new ServiceResolver({ kubeConfig: api.kubeConfig(), logger, backoff: testBackoff });
  });
  after(async () => {
    await resolver.close();
  });

  test('dual-stack Service: every ClusterIP with the Service port, numeric targetPort, selector', async () => {
    api.apply(
      service({
        namespace: ns,
        name: 'dual',
        clusterIPs: ['10.96.12.7', 'fd00:10:96::c07'],
        selector: { app: 'dual', tier: 'web' },
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
      }),
    );
    const resolution = await resolver.resolve({ namespace: ns, service: 'dual' });
    assert.deepEqual(resolution, {
      namespace: ns,
      service: 'dual',
      demandAddresses: [
        { ip: '10.96.12.7', port: 80 },
        { ip: 'fd00:10:96::c07', port: 80 },
      ],
      targetPorts: [8080],
      podSelector: { app: 'dual', tier: 'web' },
      unresolvedPortNames: [],
      endpointsReady: false,
    } satisfies ServiceResolution);
  });

  test('servicePort by name and by number; UDP ports never count; an unknown port is INVALID_ARGUMENT naming it', async () => {
    api.apply(
      service({
        namespace: ns,
        name: 'multi',
        clusterIPs: ['10.96.0.40'],
        selector: { app: 'multi' },
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'admin', port: 9000, targetPort: 9001 },
          { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
        ],
      }),
    );
    const all = await resolver.resolve({ namespace: ns, service: 'multi' });
    assert.deepEqual(all.targetPorts, [8080, 9001]);
    assert.deepEqual(all.demandAddresses, [
      { ip: '10.96.0.40', port: 80 },
      { ip: '10.96.0.40', port: 9000 },
    ]);
    const byName = await resolver.resolve({ namespace: ns, service: 'multi', servicePort: 'admin' });
    assert.deepEqual(byName.targetPorts, [9001]);
    const byNumber = await resolver.resolve({ namespace: ns, service: 'multi', servicePort: '80' });
    assert.deepEqual(byNumber.demandAddresses, [{ ip: '10.96.0.40', port: 80 }]);
    await assert.rejects(resolver.resolve({ namespace: ns, service: 'multi', servicePort: 'dns' }), (err: unknown) => {
      assert.ok(err instanceof KubernetesError);
      assert.equal(err.code, 'SERVICE_PORT_NOT_FOUND');
      assert.equal(err.grpcStatus, 'INVALID_ARGUMENT');
      assert.match(err.message, /"dns".*http \(80\), admin \(9000\)/);
      return true;
    });
  });

  test('a missing Service is NOT_FOUND naming service and namespace, and leaves no watch open', async () => {
    await assert.rejects(resolver.watch({ namespace: ns, service: 'nope' }), (err: unknown) => {
      assert.ok(err instanceof KubernetesError);
      assert.equal(err.code, 'SERVICE_NOT_FOUND');
      assert.equal(err.grpcStatus, 'NOT_FOUND');
      assert.match(err.message, /Service "nope" not found in namespace "shop"/);
      return true;
    });
    await waitFor('watches to close', () => api.openWatches() === 0);
  });

  test('named targetPort resolves through EndpointSlices (every number pods use), also when slices appear later', async () => {
    api.apply(
      service({ namespace: ns, name: 'named', clusterIPs: ['10.96.0.50'], selector: { app: 'named' }, ports: [{ name: 'web', port: 80, targetPort: 'http-alt' }] }),
    );
    const watch = await resolver.watch({ namespace: ns, service: 'named' });
    const changes = new Recorder<ServiceResolution>();
    watch.onChange(changes.push);
    // Scaled to zero: no endpoints, nothing to resolve yet, but demand is known.
    assert.deepEqual(watch.current()?.targetPorts, []);
    assert.deepEqual(watch.current()?.unresolvedPortNames, ['http-alt']);
    assert.deepEqual(watch.current()?.demandAddresses, [{ ip: '10.96.0.50', port: 80 }]);

    api.apply(
      endpointSlice({ namespace: ns, service: 'named', suffix: 'a1b2c', ports: [{ name: 'web', port: 8080 }], endpoints: [{ ip: '10.244.1.7', podName: 'named-1', nodeName: 'node-a' }] }),
    );
    const first = await changes.next('named port resolved', (r) => r.targetPorts.length > 0);
    assert.deepEqual(first.targetPorts, [8080]);
    assert.deepEqual(first.unresolvedPortNames, []);

    // A rollout where new pods name a different port number: both are served meanwhile.
    api.apply(
      endpointSlice({ namespace: ns, service: 'named', suffix: 'x9y8z', ports: [{ name: 'web', port: 8081 }], endpoints: [{ ip: '10.244.2.9', podName: 'named-2', nodeName: 'node-b' }] }),
    );
    const second = await changes.next('second port', (r) => r.targetPorts.length === 2);
    assert.deepEqual(second.targetPorts, [8080, 8081]);
    api.remove('EndpointSlice', ns, 'named-a1b2c');
    const third = await changes.next('old slice gone', (r) => r.targetPorts.length === 1);
    assert.deepEqual(third.targetPorts, [8081]);
    await watch.close();
  });

  test('holdAtZero readiness: endpointsReady follows the ready condition of EndpointSlice endpoints', async () => {
    api.apply(service({ namespace: ns, name: 'held', clusterIPs: ['10.96.0.70'], selector: { app: 'held' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    const watch = await resolver.watch({ namespace: ns, service: 'held' });
    const changes = new Recorder<ServiceResolution>();
    watch.onChange(changes.push);
    assert.equal(watch.current()?.endpointsReady, false, 'no slices: not ready');
    // A starting pod: listed with ready=false, which must not release held connections.
    api.apply(endpointSlice({ namespace: ns, service: 'held', suffix: 'h1', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.244.1.20', podName: 'held-1', nodeName: 'node-a', ready: false }] }));
    // Pure check of the same rule (the watch emits nothing for an unchanged resolution).
    const svc = parseWith(serviceSchema, service({ namespace: ns, name: 'held', clusterIPs: ['10.96.0.70'], selector: { app: 'held' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    const notReady = parseWith(endpointSliceSchema, endpointSlice({ namespace: ns, service: 'held', suffix: 'h1', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.244.1.20', podName: 'held-1', nodeName: 'node-a', ready: false }] }));
    assert.ok(notReady);
    assert.equal(resolveService({ namespace: ns, service: 'held' }, svc, [notReady]).endpointsReady, false);
    // The same slice turning ready must be the first change that says ready.
    api.apply(endpointSlice({ namespace: ns, service: 'held', suffix: 'h1', ports: [{ name: 'http', port: 8080 }], endpoints: [{ ip: '10.244.1.20', podName: 'held-1', nodeName: 'node-a', ready: true }] }));
    await changes.next('endpoint ready', (r) => r.endpointsReady);
    assert.equal(changes.values.filter((r) => r.endpointsReady).length, 1, 'a not-ready endpoint never reads as ready');
    api.remove('EndpointSlice', ns, 'held-h1');
    await changes.next('scaled back to zero', (r) => !r.endpointsReady);
    await watch.close();
  });

  test('follows changes: selector, new ClusterIP (single -> dual-stack), ports; deletion is an error, recreation a change', async () => {
    const base = { namespace: ns, name: 'moving', selector: { app: 'v1' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] };
    api.apply(service({ ...base, clusterIPs: ['10.96.0.60'] }));
    const watch = await resolver.watch({ namespace: ns, service: 'moving' });
    const changes = new Recorder<ServiceResolution>();
    const errors = new Recorder<KubernetesError>();
    watch.onChange(changes.push);
    watch.onError(errors.push);

    api.apply(service({ ...base, selector: { app: 'v2' }, clusterIPs: ['10.96.0.60'] }));
    assert.deepEqual((await changes.next('selector change')).podSelector, { app: 'v2' });

    api.apply(service({ ...base, selector: { app: 'v2' }, clusterIPs: ['10.96.0.60', 'fd00::3c'] }));
    const dual = await changes.next('second ClusterIP');
    assert.deepEqual(dual.demandAddresses, [
      { ip: '10.96.0.60', port: 80 },
      { ip: 'fd00::3c', port: 80 },
    ]);

    api.apply(service({ ...base, selector: { app: 'v2' }, clusterIPs: ['10.96.0.60', 'fd00::3c'], ports: [{ name: 'http', port: 8000, targetPort: 9090 }] }));
    const ported = await changes.next('port change');
    assert.deepEqual(ported.targetPorts, [9090]);
    assert.deepEqual(
      ported.demandAddresses.map((d) => d.port),
      [8000, 8000],
    );
    const before = changes.values.length;
    // An unrelated field changing (resourceVersion bump only) emits nothing.
    api.apply(service({ ...base, selector: { app: 'v2' }, clusterIPs: ['10.96.0.60', 'fd00::3c'], ports: [{ name: 'http', port: 8000, targetPort: 9090 }] }));

    api.remove('Service', ns, 'moving');
    const gone = await errors.next('deletion');
    assert.equal(gone.code, 'SERVICE_NOT_FOUND');
    assert.equal(watch.current(), undefined);
    assert.equal(changes.values.length, before, 'no change event for a no-op update');

    api.apply(service({ ...base, clusterIPs: ['10.96.0.61'] }));
    const back = await changes.next('recreated');
    assert.deepEqual(back.demandAddresses, [{ ip: '10.96.0.61', port: 80 }]);
    await watch.close();
  });

  test('headless Service: no demand address, target ports and selector still resolve', async () => {
    api.apply(service({ namespace: ns, name: 'headless', clusterIPs: ['None'], selector: { app: 'h' }, ports: [{ port: 5432 }] }));
    const r = await resolver.resolve({ namespace: ns, service: 'headless' });
    assert.deepEqual(r.demandAddresses, []);
    assert.deepEqual(r.targetPorts, [5432]);
  });

  test('RBAC denial: PERMISSION_DENIED saying which permission is missing (services, then endpointslices)', async () => {
    api.apply(service({ namespace: 'locked', name: 'svc', clusterIPs: ['10.96.0.70'], selector: { app: 's' }, ports: [{ port: 80 }] }));
    api.deny('services', 'locked');
    await assert.rejects(resolver.watch({ namespace: 'locked', service: 'svc' }), (err: unknown) => {
      assert.ok(err instanceof KubernetesError);
      assert.equal(err.code, 'FORBIDDEN');
      assert.equal(err.grpcStatus, 'PERMISSION_DENIED');
      assert.match(err.message, /forbidden to list services in namespace "locked".*apiGroups: \[""\], resources: \["services"\]/);
      return true;
    });
    api.allow('services', 'locked');
    api.deny('endpointslices');
    await assert.rejects(resolver.watch({ namespace: 'locked', service: 'svc' }), /forbidden to list endpointslices\.discovery\.k8s\.io in namespace "locked".*"discovery\.k8s\.io"/);
    api.allow('endpointslices');
    const r = await resolver.resolve({ namespace: 'locked', service: 'svc' });
    assert.deepEqual(r.targetPorts, [80]);
  });

  test('API server restart: watches resume from their resourceVersion and see changes made while it was down', async () => {
    api.apply(service({ namespace: ns, name: 'resume', clusterIPs: ['10.96.0.80'], selector: { app: 'r1' }, ports: [{ port: 80 }] }));
    const watch = await resolver.watch({ namespace: ns, service: 'resume' });
    const changes = new Recorder<ServiceResolution>();
    const errors = new Recorder<KubernetesError>();
    watch.onChange(changes.push);
    watch.onError(errors.push);
    await waitFor('both watches open', () => api.openWatches() === 2);

    await api.stop();
    api.apply(service({ namespace: ns, name: 'resume', clusterIPs: ['10.96.0.80'], selector: { app: 'r2' }, ports: [{ port: 80 }] }));
    const listsBefore = api.requests.filter((r) => r.query.watch === undefined).length;
    await new Promise((resolve) => setTimeout(resolve, 150)); // a few failed reconnects
    await api.start();

    assert.deepEqual((await changes.next('change made while down')).podSelector, { app: 'r2' });
    const unavailable = errors.values.find((e) => e.code === 'API_UNAVAILABLE');
    assert.ok(unavailable, 'the outage was reported as API_UNAVAILABLE');
    // Resumed by resourceVersion: no relist was needed.
    assert.equal(api.requests.filter((r) => r.query.watch === undefined).length, listsBefore);
    await waitFor('both watches reopened', () => api.openWatches() === 2);

    // And on with new changes after the restart.
    api.apply(service({ namespace: ns, name: 'resume', clusterIPs: ['10.96.0.80'], selector: { app: 'r3' }, ports: [{ port: 80 }] }));
    assert.deepEqual((await changes.next('change after restart')).podSelector, { app: 'r3' });
    await watch.close();
    await waitFor('watches closed', () => api.openWatches() === 0);
  });

  test('API server restart with compacted history: 410 Gone makes the watches relist', async () => {
    api.apply(service({ namespace: ns, name: 'gone', clusterIPs: ['10.96.0.90'], selector: { app: 'g1' }, ports: [{ port: 80 }] }));
    const watch = await resolver.watch({ namespace: ns, service: 'gone' });
    const changes = new Recorder<ServiceResolution>();
    watch.onChange(changes.push);
    await waitFor('both watches open', () => api.openWatches() === 2);

    await api.stop();
    api.apply(service({ namespace: ns, name: 'gone', clusterIPs: ['10.96.0.91'], selector: { app: 'g2' }, ports: [{ port: 80 }] }));
    api.compact();
    const listsBefore = api.requests.filter((r) => r.query.watch === undefined).length;
    await api.start();

    const r = await changes.next('state after relist');
    assert.deepEqual(r.podSelector, { app: 'g2' });
    assert.deepEqual(r.demandAddresses, [{ ip: '10.96.0.91', port: 80 }]);
    assert.ok(api.requests.filter((q) => q.query.watch === undefined).length >= listsBefore + 2, 'both reflectors relisted');
    await watch.close();
  });
});
