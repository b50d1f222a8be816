import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * A minimal kustomize for the subset manifests/ uses, so tests need no kubectl: resources
 * (files and kustomization directories), namespace, labels (pairs, includeSelectors: false,
 * includeTemplates), commonLabels and images. Any other kustomization key is an error, so
 * a manifest change that needs more cannot pass silently. Its output was compared with
 * `kubectl kustomize` (kustomize v5.5.0) by hand: same objects and fields.
 */

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
};

const supportedKeys = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'commonLabels', 'images']);

// Kinds without a namespace (the subset we use).
const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

interface Kustomization {
  resources?: string[];
  namespace?: string;
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
  commonLabels?: Record<string, string>;
  images?: { name: string; newName?: string; newTag?: string }[];
}

export function kustomize(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const k = readYaml(file)[0] as Kustomization & Record<string, unknown>;
  for (const key of Object.keys(k)) {
    if (!supportedKeys.has(key)) throw new Error(`${file}: kustomization key "${key}" is not supported by the test renderer`);
  }
  const objects: Manifest[] = [];
  for (const resource of k.resources ?? []) {
    const path = join(dir, resource);
    if (statSync(path).isDirectory()) objects.push(...kustomize(path));
    else objects.push(...(readYaml(path) as Manifest[]));
  }
  for (const obj of objects) {
    if (k.namespace !== undefined) setNamespace(obj, k.namespace);
    for (const label of k.labels ?? []) {
      if (label.includeSelectors) throw new Error(`${file}: labels.includeSelectors is not supported by the test renderer`);
      addLabels(obj, label.pairs, label.includeTemplates === true);
    }
    if (k.commonLabels) addLabels(obj, k.commonLabels, true, true);
    for (const image of k.images ?? []) setImage(obj, image);
  }
  return objects;
}

function readYaml(path: string): unknown[] {
  if (!existsSync(path)) throw new Error(`missing ${path}`);
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]!.message}`);
      return doc.toJS() as unknown;
    })
    .filter((o) => o !== null);
}

function setNamespace(obj: Manifest, namespace: string): void {
  if (!clusterScoped.has(obj.kind)) obj.metadata.namespace = namespace;
  // Like kustomize: ServiceAccount subjects of bindings follow the namespace.
  if (obj.kind === 'ClusterRoleBinding' || obj.kind === 'RoleBinding') {
    for (const s of (obj.subjects as { kind: string; namespace?: string }[] | undefined) ?? []) {
      if (s.kind === 'ServiceAccount') s.namespace = namespace;
    }
  }
}

function addLabels(obj: Manifest, pairs: Record<string, string>, templates: boolean, selectors = false): void {
  obj.metadata.labels = { ...obj.metadata.labels, ...pairs };
  const spec = obj.spec as { template?: { metadata?: { labels?: Record<string, string> } }; selector?: Record<string, unknown> } | undefined;
  if (templates && spec?.template) {
    spec.template.metadata ??= {};
    spec.template.metadata.labels = { ...spec.template.metadata.labels, ...pairs };
  }
  if (selectors && spec?.selector) {
    if (obj.kind === 'Service') Object.assign(spec.selector, pairs);
    else spec.selector.matchLabels = { ...(spec.selector.matchLabels as Record<string, string> | undefined), ...pairs };
  }
}

function setImage(obj: Manifest, image: { name: string; newName?: string; newTag?: string }): void {
  const podSpec = (obj.spec as { template?: { spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[] } } } | undefined)?.template?.spec;
  for (const c of [...(podSpec?.containers ?? []), ...(podSpec?.initContainers ?? [])]) {
    if (c.image === undefined) continue;
    const [name, tag] = splitImage(c.image);
    if (name !== image.name) continue;
    c.image = `${image.newName ?? name}${image.newTag !== undefined ? `:${image.newTag}` : tag !== undefined ? `:${tag}` : ''}`;
  }
}

function splitImage(image: string): [string, string | undefined] {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, undefined];
}

