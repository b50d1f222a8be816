import type { KubeObject } from './kube-apiserver.js';

/**
 * Objects shaped as a real API server serves them (fields as in `kubectl get -o json` of
 * Kubernetes 1.30: defaults filled in, status present), trimmed of managedFields.
 */

export interface ServicePortFixture {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export function service(options: {
  namespace: string;
  name: string;
  clusterIPs: string[];
  selector?: Record<string, string>;
  ports: ServicePortFixture[];
  type?: string;
}): KubeObject {
  const headless = options.clusterIPs[0] === 'None';
  const families = headless ? ['IPv4'] : options.clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4'));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: options.name, namespace: options.namespace, labels: { app: options.name } },
    spec: {
      type: options.type ?? 'ClusterIP',
      clusterIP: options.clusterIPs[0],
      clusterIPs: options.clusterIPs,
      ipFamilies: families,
      ipFamilyPolicy: families.length > 1 ? 'RequireDualStack' : 'SingleStack',
      internalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      ...(options.selector ? { selector: options.selector } : {}),
      ports: options.ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        protocol: p.protocol ?? 'TCP',
        port: p.port,
        targetPort: p.targetPort ?? p.port,
      })),
    },
    status: { loadBalancer: {} },
  };
}

export function endpointSlice(options: {
  namespace: string;
  service: string;
  suffix: string;
  addressType?: 'IPv4' | 'IPv6';
  ports: { name?: string; port: number }[];
  endpoints: { ip: string; podName: string; nodeName: string; ready?: boolean }[];
}): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${options.service}-${options.suffix}`,
      namespace: options.namespace,
      generateName: `${options.service}-`,
      labels: { 'kubernetes.io/service-name': options.service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: options.service, uid: '6a1f7f5e-4b8e-4d43-9c55-1c3e1f0f6a10', controller: true, blockOwnerDeletion: true }],
    },
    addressType: options.addressType ?? 'IPv4',
    endpoints: options.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      targetRef: { kind: 'Pod', namespace: options.namespace, name: e.podName, uid: '0b1c2d3e-0000-4000-8000-000000000001' },
      nodeName: e.nodeName,
    })),
    ports: options.ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : { name: '' }), protocol: 'TCP', port: p.port })),
  };
}

export function pod(options: {
  namespace: string;
  name: string;
  uid: string;
  nodeName: string;
  labels: Record<string, string>;
  phase?: string;
  qosClass?: string;
  hostNetwork?: boolean;
  ports?: { name?: string; containerPort: number }[];
  containerIds?: string[];
}): KubeObject {
  const phase = options.phase ?? 'Running';
  const ids = options.containerIds ?? [];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: options.name, namespace: options.namespace, uid: options.uid, labels: options.labels },
    spec: {
      nodeName: options.nodeName,
      ...(options.hostNetwork ? { hostNetwork: true } : {}),
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          imagePullPolicy: 'IfNotPresent',
          ports: (options.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, protocol: 'TCP' })),
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
      ],
    },
    status: {
      phase,
      qosClass: options.qosClass ?? 'BestEffort',
      hostIP: '10.0.0.11',
      podIP: '10.244.1.7',
      podIPs: [{ ip: '10.244.1.7' }],
      startTime: '2026-11-21T22:00:00Z',
      containerStatuses: ids.map((id, i) => ({
        name: i === 0 ? 'app' : `app-${i}`,
        containerID: id,
        image: 'docker.io/library/nginx:1.27',
        imageID: 'docker.io/library/nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000',
        ready: phase === 'Running',
        restartCount: 0,
        started: phase === 'Running',
        state: phase === 'Running' ? { running: { startedAt: '2026-11-21T22:00:01Z' } } : { waiting: { reason: 'ContainerCreating' } },
      })),
    },
  };
}

export function scaledObject(options: {
  namespace: string;
  name: string;
  triggers: { type: string; metadata: Record<string, string> }[];
}): KubeObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: options.name, namespace: options.namespace, generation: 1 },
    spec: {
      scaleTargetRef: { name: options.name },
      minReplicaCount: 0,
      maxReplicaCount: 10,
      triggers: options.triggers,
    },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady', message: 'ScaledObject is defined correctly and is ready for scaling' }] },
  };
}
