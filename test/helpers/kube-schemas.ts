import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as models from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';

/**
 * JSON schemas for built-in Kubernetes kinds, derived from the models that
 * @kubernetes/client-node generates from the Kubernetes OpenAPI spec: every field name and
 * type (unknown fields are errors, int32/int64 are integers) from the models' attribute
 * type maps, required fields from the generated declarations ("'verbs': Array<string>"
 * vs "'apiGroups'?: ..."). The spec leaves most enums as plain strings; the ones our
 * manifests touch are added by hand from the API reference (`enums` below), as is "a
 * probe has exactly one handler". Importing the models only (not the package index) keeps
 * the HTTP stack out.
 */

type Schema = Record<string, unknown>;

interface Attribute {
  readonly name: string;
  readonly baseName: string;
  readonly type: string;
  readonly format: string;
}

interface Model {
  getAttributeTypeMap(): Attribute[];
}

const modelDir = fileURLToPath(new URL('../../node_modules/@kubernetes/client-node/dist/gen/models/', import.meta.url));
const registry = models as unknown as Record<string, Model | undefined>;

// Linux capability names as Kubernetes spells them (without CAP_), capability(7).
const capabilities = [
  'AUDIT_CONTROL', 'AUDIT_READ', 'AUDIT_WRITE', 'BLOCK_SUSPEND', 'BPF', 'CHECKPOINT_RESTORE', 'CHOWN', 'DAC_OVERRIDE',
  'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'IPC_LOCK', 'IPC_OWNER', 'KILL', 'LEASE', 'LINUX_IMMUTABLE', 'MAC_ADMIN',
  'MAC_OVERRIDE', 'MKNOD', 'NET_ADMIN', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_RAW', 'PERFMON', 'SETFCAP', 'SETGID',
  'SETPCAP', 'SETUID', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_CHROOT', 'SYS_MODULE', 'SYS_NICE', 'SYS_PACCT', 'SYS_PTRACE',
  'SYS_RAWIO', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'SYSLOG', 'WAKE_ALARM',
];

/** model -> property -> extra constraints (enums and patterns from the API reference). */
const enums: Record<string, Record<string, Schema>> = {
  V1Container: { imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] } },
  V1ContainerPort: { protocol: { enum: ['TCP', 'UDP', 'SCTP'] }, name: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 15 } },
  V1ServicePort: { protocol: { enum: ['TCP', 'UDP', 'SCTP'] }, name: { pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 } },
  V1ServiceSpec: { type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] } },
  V1Capabilities: { add: { items: { enum: capabilities } }, drop: { items: { enum: [...capabilities, 'ALL'] } } },
  V1SeccompProfile: { type: { enum: ['RuntimeDefault', 'Unconfined', 'Localhost'] } },
  V1HostPathVolumeSource: { type: { enum: ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] } },
  V1DeploymentStrategy: { type: { enum: ['RollingUpdate', 'Recreate'] } },
  V1NetworkPolicySpec: { policyTypes: { items: { enum: ['Ingress', 'Egress'] } } },
  V1NetworkPolicyPort: { protocol: { enum: ['TCP', 'UDP', 'SCTP'] } },
  V1DaemonSetUpdateStrategy: { type: { enum: ['RollingUpdate', 'OnDelete'] } },
  V1Toleration: { operator: { enum: ['Exists', 'Equal'] }, effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] } },
  V1ObjectFieldSelector: { fieldPath: { pattern: '^(metadata\\.(name|namespace|uid|labels|annotations)|spec\\.(nodeName|serviceAccountName)|status\\.(hostIP|hostIPs|podIP|podIPs))' } },
  V1ObjectMeta: { name: { pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 } },
};

/** A probe has exactly one handler (API reference: "Exactly one of these fields must be specified"). */
const oneHandler: Schema = { oneOf: ['exec', 'httpGet', 'tcpSocket', 'grpc'].map((h) => ({ required: [h] })) };

function requiredOf(model: string): string[] {
  let text: string;
  try {
    text = readFileSync(`${modelDir}${model}.d.ts`, 'utf8');
  } catch {
    return [];
  }
  return [...text.matchAll(/^ {4}'([A-Za-z0-9_$]+)': /gm)].map((m) => m[1]!);
}

function typeSchema(type: string, format: string, defs: Record<string, Schema>): Schema {
  if (type === 'string') return { type: 'string' };
  if (type === 'boolean') return { type: 'boolean' };
  if (type === 'number') return format === 'double' ? { type: 'number' } : { type: 'integer' };
  if (type === 'Date') return { type: 'string' };
  if (type === 'IntOrString') return { type: ['integer', 'string'] };
  if (type === 'any') return {};
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return { type: 'array', items: typeSchema(array[1]!, format, defs) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: 'object', additionalProperties: typeSchema(map[1]!, format, defs) };
  if (registry[type]?.getAttributeTypeMap) {
    define(type, defs);
    return { $ref: `#/definitions/${type}` };
  }
  throw new Error(`kube-schemas: unknown model type "${type}"`);
}

function define(model: string, defs: Record<string, Schema>): void {
  if (defs[model]) return;
  const properties: Record<string, Schema> = {};
  const schema: Schema = { type: 'object', properties, additionalProperties: false };
  defs[model] = schema;
  for (const attr of registry[model]!.getAttributeTypeMap()) {
    const base = typeSchema(attr.type, attr.format, defs);
    const extra = enums[model]?.[attr.baseName];
    properties[attr.baseName] = extra?.items ? { ...base, items: { ...(base.items as Schema), ...(extra.items as Schema) } } : { ...base, ...extra };
  }
  const required = requiredOf(model);
  if (required.length > 0) schema.required = required;
  if (model === 'V1Probe') Object.assign(schema, oneHandler);
}

const kindModels: Record<string, string> = {
  'v1/Namespace': 'V1Namespace',
  'v1/ServiceAccount': 'V1ServiceAccount',
  'v1/Service': 'V1Service',
  'apps/v1/Deployment': 'V1Deployment',
  'apps/v1/DaemonSet': 'V1DaemonSet',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'V1ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'V1ClusterRoleBinding',
  'networking.k8s.io/v1/NetworkPolicy': 'V1NetworkPolicy',
};

/** The schema of one built-in kind, or undefined for kinds this helper does not know. */
export function kubernetesSchema(apiVersion: string, kind: string): Schema | undefined {
  const model = kindModels[`${apiVersion}/${kind}`];
  if (!model) return undefined;
  const definitions: Record<string, Schema> = {};
  define(model, definitions);
  return {
    $id: `k8s:${apiVersion}/${kind}`,
    definitions,
    allOf: [
      { $ref: `#/definitions/${model}` },
      {
        type: 'object',
        required: ['apiVersion', 'kind', 'metadata'],
        properties: { apiVersion: { const: apiVersion }, kind: { const: kind }, metadata: { type: 'object', required: ['name'] } },
      },
    ],
  };
}
