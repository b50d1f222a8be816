import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { collectorFlags } from '../../src/cli/collector.js';
import { scalerFlags } from '../../src/cli/scaler.js';
import { parseFlags } from '../../src/config/flags.js';
import { addressNamesScaler } from '../../src/kubernetes/scaler-address.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { kustomize, type Manifest } from '../helpers/kube-kustomize.js';
import { validationError } from '../helpers/kube-models.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const base = kustomize(`${repo}manifests/base`);
const examples = kustomize(`${repo}manifests/examples`);

function find<T = Record<string, unknown>>(objects: Manifest[], kind: string, name?: string): T {
  const found = objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.ok(found, `${kind} ${name ?? ''} is rendered`);
  return found as unknown as T;
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: {
    privileged?: boolean;
    runAsUser?: number;
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  readinessProbe?: { grpc?: { port: number } };
  livenessProbe?: { grpc?: { port: number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Workload {
  metadata: { name: string; namespace: string };
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName?: string;
        hostPID?: boolean;
        hostNetwork?: boolean;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
        volumes?: { name: string; hostPath?: { path: string }; projected?: { sources: { serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }[] } }[];
      };
    };
  };
}
interface ServiceObj {
  metadata: { name: string; namespace: string };
  spec: { clusterIP?: string; selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: number | string }[] };
}

describe('manifests/base', () => {
  test('renders to the expected objects, all in one namespace', () => {
    assert.deepEqual(
      base.map((o) => `${o.kind}/${o.metadata.name}`),
      [
        'Namespace/keda-ebpf-scaler',
        'ServiceAccount/keda-ebpf-scaler',
        'ServiceAccount/keda-ebpf-collector',
        'ClusterRole/keda-ebpf-scaler-read',
        'ClusterRoleBinding/keda-ebpf-scaler-read',
        'ClusterRole/keda-ebpf-scaler-tokenreview',
        'ClusterRoleBinding/keda-ebpf-scaler-tokenreview',
        'ClusterRole/keda-ebpf-collector-read',
        'ClusterRoleBinding/keda-ebpf-collector-read',
        'Service/keda-ebpf-scaler',
        'Deployment/keda-ebpf-scaler',
        'DaemonSet/keda-ebpf-collector',
        'NetworkPolicy/keda-ebpf-scaler',
        'NetworkPolicy/keda-ebpf-collector',
      ],
    );
    for (const o of base) {
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) assert.equal(o.metadata.namespace, 'keda-ebpf-scaler', `${o.kind} namespace`);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'keda-ebpf-scaler');
    }
  });

  test('every object validates against its Kubernetes API schema (kubernetes-models)', () => {
    for (const o of base) assert.equal(validationError(o), undefined, `${o.kind}/${o.metadata.name}`);
  });

  test('the schemas reject what they should (wrong type, missing required field, bad enum)', () => {
    const ds = find<Workload>(base, 'DaemonSet') as unknown as Manifest & Workload;
    const broken: [string, (d: Workload) => void][] = [
      ['string minReadySeconds', (d) => Object.assign(d.spec, { minReadySeconds: '5' })],
      ['container without name', (d) => delete (d.spec.template.spec.containers[0] as Partial<Container>).name],
      ['string containerPort', (d) => Object.assign(d.spec.template.spec.containers[0]!, { ports: [{ containerPort: '9090' }] })],
    ];
    for (const [what, mutate] of broken) {
      const copy = structuredClone(ds);
      mutate(copy);
      assert.notEqual(validationError(copy), undefined, `${what} must be rejected`);
    }
  });

  test('RBAC: one ServiceAccount per role; reads exactly what each lists and watches, plus create on tokenreviews for the scaler', () => {
    type Role = { metadata: { name: string }; rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    type Binding = { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    const grantsOf = (account: string): Set<string> => {
      const granted = new Set<string>();
      for (const b of base.filter((o) => o.kind === 'ClusterRoleBinding') as unknown as Binding[]) {
        if (!b.subjects.some((s) => s.kind === 'ServiceAccount' && s.name === account && s.namespace === 'keda-ebpf-scaler')) continue;
        const role = find<Role>(base, 'ClusterRole', b.roleRef.name);
        for (const rule of role.rules) for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${v} ${r}.${g}`);
      }
      return granted;
    };
    const read = (resource: string) => ['get', 'list', 'watch'].map((v) => `${v} ${resource}`);
    assert.deepEqual(
      [...grantsOf('keda-ebpf-scaler')].sort(),
      [...read('endpointslices.discovery.k8s.io'), ...read('scaledobjects.keda.sh'), ...read('services.'), 'create tokenreviews.authentication.k8s.io'].sort(),
    );
    assert.deepEqual([...grantsOf('keda-ebpf-collector')].sort(), read('pods.').sort());
    assert.equal(find<Workload>(base, 'Deployment').spec.template.spec.serviceAccountName, 'keda-ebpf-scaler');
    assert.equal(find<Workload>(base, 'DaemonSet').spec.template.spec.serviceAccountName, 'keda-ebpf-collector');
  });

  test('ingest: the scaler verifies the collectors\' projected tokens (audience, ServiceAccount) on a port of its own', () => {
    const scalerArgs = find<Workload>(base, 'Deployment').spec.template.spec.containers[0]!.args ?? [];
    const { values } = parseFlags(scalerFlags, scalerArgs.slice(1), {});
    assert.equal(values['ingest-auth'], 'kubernetes');
    assert.equal(values.listen, '0.0.0.0:9090');
    assert.equal(values['ingest-listen'], '0.0.0.0:9091');
    const ds = find<Workload>(base, 'DaemonSet');
    assert.equal(`keda-ebpf-scaler:${ds.spec.template.spec.serviceAccountName}`, values['ingest-service-account'], 'the scaler accepts the collectors\' ServiceAccount');
    const collector = ds.spec.template.spec.containers[0]!;
    const collectorArgs = parseFlags(collectorFlags, (collector.args ?? []).slice(1), {}).values;
    const projected = ds.spec.template.spec.volumes?.find((v) => v.projected)?.projected?.sources[0]?.serviceAccountToken;
    assert.ok(projected, 'a projected ServiceAccount token volume');
    assert.equal(projected.audience, values['ingest-audience'], 'issued for the audience the scaler checks');
    assert.ok((projected.expirationSeconds ?? 3600) <= 3600, 'short-lived');
    const mount = collector.volumeMounts?.find((m) => m.name === ds.spec.template.spec.volumes?.find((v) => v.projected)?.name);
    assert.equal(collectorArgs['token-file'], `${mount?.mountPath}/${projected.path}`, '--token-file is the projected token');
    const svc = find<ServiceObj>(base, 'Service', 'keda-ebpf-scaler');
    const ingestPort = svc.spec.ports.find((p) => p.name === 'ingest')?.port;
    assert.equal(ingestPort, 9091);
    assert.ok(addressNamesScaler(collectorArgs.scaler, 'keda-ebpf-scaler', { serviceName: 'keda-ebpf-scaler', namespace: 'keda-ebpf-scaler', port: ingestPort }), 'collectors dial the ingest port');
  });

  test('NetworkPolicies: KEDA\'s operator reaches only the KEDA port, collectors only the ingest port; nothing reaches the collectors', () => {
    type Peer = { namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } };
    type Policy = { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress?: { from: Peer[]; ports: { port: string | number; protocol: string }[] }[] } };
    const deployment = find<Workload>(base, 'Deployment');
    const daemonSet = find<Workload>(base, 'DaemonSet');
    const selects = (selector: Record<string, string>, w: Workload) => Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v);
    const scalerPolicy = find<Policy>(base, 'NetworkPolicy', 'keda-ebpf-scaler');
    assert.ok(selects(scalerPolicy.spec.podSelector.matchLabels, deployment), 'selects the scaler pods');
    assert.deepEqual(scalerPolicy.spec.policyTypes, ['Ingress']);
    const containerPort = (name: string | number) => deployment.spec.template.spec.containers[0]!.ports?.find((p) => p.name === name)?.containerPort;
    const rules = scalerPolicy.spec.ingress ?? [];
    assert.equal(rules.length, 2);
    const [keda, collectors] = rules as [(typeof rules)[0], (typeof rules)[0]];
    assert.deepEqual(keda.ports.map((p) => containerPort(p.port)), [9090]);
    assert.equal(keda.from[0]?.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'], 'keda');
    assert.equal(keda.from[0]?.podSelector?.matchLabels['app.kubernetes.io/name'], 'keda-operator');
    assert.deepEqual(collectors.ports.map((p) => containerPort(p.port)), [9091]);
    assert.equal(collectors.from.length, 1);
    assert.equal(collectors.from[0]?.namespaceSelector, undefined, 'collectors of this namespace only');
    assert.ok(selects(collectors.from[0]!.podSelector!.matchLabels, daemonSet), 'admits the collector pods');
    assert.ok(!selects(collectors.from[0]!.podSelector!.matchLabels, deployment), 'not the scaler pods');
    assert.equal(validationError(scalerPolicy as unknown as Manifest), undefined);
    for (const [what, mutate] of [
      ['a port that is neither a number nor a name', (p: Policy) => Object.assign(p.spec.ingress![0]!.ports[0]!, { port: { grpc: 1 } })],
      ['a pod selector that is not an object', (p: Policy) => Object.assign(p.spec, { podSelector: 'keda-ebpf-scaler' })],
    ] as const) {
      const copy = structuredClone(scalerPolicy);
      mutate(copy);
      assert.notEqual(validationError(copy as unknown as Manifest), undefined, `the NetworkPolicy schema rejects ${what}`);
    }
    const collectorPolicy = find<Policy>(base, 'NetworkPolicy', 'keda-ebpf-collector');
    assert.ok(selects(collectorPolicy.spec.podSelector.matchLabels, daemonSet));
    assert.deepEqual(collectorPolicy.spec.policyTypes, ['Ingress']);
    assert.equal(collectorPolicy.spec.ingress, undefined, 'no ingress to collectors');
  });

  test('scaler: 2 replicas, non-root, read-only root fs, gRPC probes on the serving port, requests and limits', () => {
    const d = find<Workload>(base, 'Deployment', 'keda-ebpf-scaler');
    assert.equal(d.spec.replicas, 2);
    const pod = d.spec.template.spec;
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.ok((pod.securityContext?.runAsUser ?? 0) > 0);
    const c = pod.containers[0]!;
    assert.equal(c.args?.[0], 'scaler');
    assert.equal(c.image, 'ghcr.io/keda-ebpf-scaler/keda-ebpf-scaler:0.1.0');
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(c.ports?.[0]?.containerPort, 9090);
    assert.equal(c.readinessProbe?.grpc?.port, 9090);
    assert.equal(c.livenessProbe?.grpc?.port, 9090);
    for (const k of ['cpu', 'memory']) assert.ok(c.resources?.requests?.[k], `request ${k}`);
    assert.ok(c.resources?.limits?.memory);
    // V8's heap limit fits the container's: at most half of it (RSS also holds new space,
    // code, gRPC's native buffers and histograms' typed arrays; docs/security.md, "Heap limit").
    const limitMi = /^(\d+)Mi$/.exec(String(c.resources?.limits?.memory))?.[1];
    const heapMb = /--max-old-space-size=(\d+)/.exec(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1];
    assert.ok(limitMi && heapMb, `scaler needs a memory limit in Mi (${String(c.resources?.limits?.memory)}) and NODE_OPTIONS=--max-old-space-size`);
    assert.ok(Number(heapMb) * 2 <= Number(limitMi), `heap limit ${heapMb} MB is more than half the memory limit ${limitMi}Mi`);

    const svc = find<ServiceObj>(base, 'Service', 'keda-ebpf-scaler');
    assert.equal(svc.spec.clusterIP, 'None', 'headless: KEDA and collectors see every replica');
    assert.deepEqual(
      svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]),
      [
        ['grpc', 9090, 'grpc'],
        ['ingest', 9091, 'ingest'],
        ['metrics', 9464, 'metrics'],
      ],
    );
    assert.deepEqual(
      c.ports?.map((p) => [p.name, p.containerPort]),
      [
        ['grpc', 9090],
        ['ingest', 9091],
        ['metrics', 9464],
      ],
      "KEDA's port, the collectors' ingest port, and metrics on --metrics-listen's default port",
    );
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(d.spec.template.metadata.labels[k], v, 'Service selects the scaler pods');
  });

  test('collector: not privileged, exactly the documented capabilities, host mounts as DESIGN.md lists, node name by downward API', () => {
    const ds = find<Workload>(base, 'DaemonSet', 'keda-ebpf-collector');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0]!;
    assert.equal(c.securityContext?.privileged, false);
    assert.notEqual(pod.hostPID, true, 'no hostPID: host /proc is mounted instead');
    // The four of DESIGN.md, plus SYS_PTRACE: measured necessary to stat /proc/PID/ns/net of
    // another user's process (see manifests/base/collector.yaml).
    assert.deepEqual([...(c.securityContext?.capabilities?.add ?? [])].sort(), ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE']);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);

    const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.name, m]));
    const hostPaths = new Map((pod.volumes ?? []).map((v) => [v.name, v.hostPath?.path]));
    const byHostPath = (path: string): { mountPath: string; readOnly?: boolean } => {
      const name = [...hostPaths].find(([, p]) => p === path)?.[0];
      assert.ok(name, `host ${path} is a volume`);
      const mount = mounts.get(name);
      assert.ok(mount, `host ${path} is mounted`);
      return mount;
    };
    assert.equal(byHostPath('/sys/fs/bpf').mountPath, '/sys/fs/bpf');
    assert.deepEqual(byHostPath('/sys/kernel/btf'), { name: 'btf', mountPath: '/sys/kernel/btf', readOnly: true });
    assert.deepEqual(byHostPath('/proc'), { name: 'host-proc', mountPath: '/host/proc', readOnly: true });
    assert.deepEqual(byHostPath('/sys/fs/cgroup'), { name: 'host-cgroup', mountPath: '/host/sys/fs/cgroup', readOnly: true });
    const env = new Map((c.env ?? []).map((e) => [e.name, e]));
    assert.equal(env.get('KEDA_EBPF_PROC_ROOT')?.value, '/host/proc');
    assert.equal(env.get('KEDA_EBPF_CGROUP_ROOT')?.value, '/host/sys/fs/cgroup');
    assert.equal(env.get('NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');

    const args = c.args ?? [];
    assert.equal(args[0], 'collector');
    assert.equal(args[args.indexOf('--node') + 1], '$(NODE_NAME)');
    const scaler = args[args.indexOf('--scaler') + 1] ?? '';
    // The collector dials the scaler's headless Service, on its ingest port.
    assert.ok(addressNamesScaler(scaler, 'keda-ebpf-scaler', { serviceName: 'keda-ebpf-scaler', namespace: 'keda-ebpf-scaler', port: 9091 }), scaler);
  });
});

describe('manifests/components/monitoring', () => {
  const monitors = kustomize(`${repo}manifests/components/monitoring`);
  interface Monitor {
    metadata: { namespace: string };
    spec: { selector: { matchLabels: Record<string, string> }; endpoints?: { port: string }[]; podMetricsEndpoints?: { port: string }[] };
  }

  test('is a kustomize Component (optional, added from an overlay)', () => {
    const k = parse(readFileSync(`${repo}manifests/components/monitoring/kustomization.yaml`, 'utf8')) as { kind: string; apiVersion: string };
    assert.deepEqual([k.apiVersion, k.kind], ['kustomize.config.k8s.io/v1alpha1', 'Component']);
    assert.deepEqual(monitors.map((o) => `${o.apiVersion}/${o.kind}`), ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PodMonitor']);
  });

  test('the ServiceMonitor scrapes the scaler Service\'s metrics port; the PodMonitor the collectors\' metrics container port', () => {
    const sm = find<Monitor>(monitors, 'ServiceMonitor');
    const svc = find<ServiceObj & { metadata: { labels: Record<string, string> } }>(base, 'Service', 'keda-ebpf-scaler');
    assert.equal(sm.metadata.namespace, svc.metadata.namespace);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v, 'ServiceMonitor selects the scaler Service');
    for (const e of sm.spec.endpoints ?? []) assert.ok(svc.spec.ports.some((p) => p.name === e.port), `Service port ${e.port}`);

    const pm = find<Monitor>(monitors, 'PodMonitor');
    const ds = find<Workload>(base, 'DaemonSet', 'keda-ebpf-collector');
    assert.equal(pm.metadata.namespace, ds.metadata.namespace);
    for (const [k, v] of Object.entries(pm.spec.selector.matchLabels)) assert.equal(ds.spec.template.metadata.labels[k], v, 'PodMonitor selects the collector pods');
    const ports = ds.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
    for (const e of pm.spec.podMetricsEndpoints ?? []) assert.deepEqual(ports.find((p) => p.name === e.port)?.containerPort, 9464, `container port ${e.port}`);
  });
});

describe('manifests/examples', () => {
  const scaledObjects = examples.filter((o) => o.kind === 'ScaledObject') as unknown as (Manifest & {
    spec: { scaleTargetRef: { name: string }; triggers: { type: string; metricType?: string; metadata: Record<string, string> }[] };
  })[];
  const scaler = find<ServiceObj>(base, 'Service', 'keda-ebpf-scaler');

  test('built-in objects validate against the Kubernetes API schemas (kubernetes-models)', () => {
    for (const o of examples.filter((x) => x.kind !== 'ScaledObject')) assert.equal(validationError(o), undefined, `${o.kind}/${o.metadata.name}`);
  });

  test('ScaledObjects validate against the KEDA CRD schema (@kubernetes-models/keda)', () => {
    assert.ok(scaledObjects.length >= 2);
    for (const so of scaledObjects) assert.equal(validationError(so), undefined, `ScaledObject/${so.metadata.name}`);
    const mutations: [string, (so: Manifest & { spec: Record<string, unknown> & { triggers: Record<string, unknown>[] } }) => void][] = [
      ['a trigger without type', (so) => delete so.spec.triggers[0]!.type],
      ['a non-integer minReplicaCount', (so) => (so.spec.minReplicaCount = 'zero')],
      ['non-string metadata values', (so) => (so.spec.triggers[0]!.metadata = { targetValue: 200 })],
    ];
    for (const [what, mutate] of mutations) {
      const broken = structuredClone(scaledObjects[0]!) as unknown as Parameters<(typeof mutations)[0][1]>[0];
      mutate(broken);
      assert.notEqual(validationError(broken), undefined, `the CRD schema rejects ${what}`);
    }
  });

  test('triggers: latency is Value, rps and concurrency AverageValue; both external and external-push are shown', () => {
    const triggers = scaledObjects.flatMap((so) => so.spec.triggers.map((t) => ({ so, t })));
    const byMetric = new Map(triggers.map(({ t }) => [t.metadata.metric, t]));
    assert.equal(byMetric.get('latency')?.metricType, 'Value');
    assert.equal(byMetric.get('rps')?.metricType, 'AverageValue');
    assert.equal(byMetric.get('concurrency')?.metricType, 'AverageValue');
    assert.deepEqual([...new Set(triggers.map(({ t }) => t.type))].sort(), ['external', 'external-push']);
  });

  test('trigger metadata parses with the scaler\'s own schema and points at the base scaler and at existing Services', () => {
    for (const so of scaledObjects) {
      const ns = so.metadata.namespace ?? '';
      const workload = find<Workload>(examples, 'Deployment', so.spec.scaleTargetRef.name);
      for (const t of so.spec.triggers) {
        const parsed = parseTriggerMetadata(t.metadata, ns);
        assert.ok(
          addressNamesScaler(t.metadata.scalerAddress ?? '', ns, { serviceName: scaler.metadata.name, namespace: scaler.metadata.namespace, port: scaler.spec.ports[0]!.port }),
          `${so.metadata.name}: scalerAddress reaches the base scaler`,
        );
        const svc = find<ServiceObj>(examples, 'Service', parsed.selection.service);
        assert.equal(svc.metadata.namespace, ns, 'the Service is in the ScaledObject\'s namespace');
        for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(workload.spec.template.metadata.labels[k], v, 'the Service selects the scaled workload');
        // Named targetPorts name a container port of the workload.
        const containerPorts = workload.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
        for (const p of svc.spec.ports) {
          if (typeof p.targetPort === 'string') assert.ok(containerPorts.some((cp) => cp.name === p.targetPort), `targetPort ${p.targetPort} names a container port`);
        }
        if (parsed.selection.servicePort !== undefined) {
          assert.ok(svc.spec.ports.some((p) => p.name === parsed.selection.servicePort || String(p.port) === parsed.selection.servicePort), 'servicePort exists');
        }
      }
    }
  });
});
