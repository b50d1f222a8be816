import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO } from './procs.js';

type Manifest = { kind?: string; spec?: { template?: { spec?: { containers?: { name: string; env?: { name: string; value?: string }[] }[] } } } } | null;

/** NODE_OPTIONS of one container of one workload in a shipped manifest, split into flags; [] when unset. */
function shippedNodeFlags(file: string, kind: string, containerName: string): string[] {
  const docs = fs
    .readFileSync(path.join(REPO, file), 'utf8')
    .split(/^---$/m)
    .map((d) => parse(d) as Manifest);
  const workload = docs.find((d) => d?.kind === kind);
  const container = workload?.spec?.template?.spec?.containers?.find((c) => c.name === containerName);
  const value = container?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  return value.split(' ').filter(Boolean);
}

/**
 * The node flags the shipped manifests give the scaler (manifests/base/scaler.yaml), so the
 * benchmarks measure RSS and CPU under the same heap limit as a deployment.
 */
export function shippedScalerNodeFlags(): string[] {
  return shippedNodeFlags('manifests/base/scaler.yaml', 'Deployment', 'scaler');
}

/** The node flags the shipped DaemonSet gives the collector (manifests/base/collector.yaml). */
export function shippedCollectorNodeFlags(): string[] {
  return shippedNodeFlags('manifests/base/collector.yaml', 'DaemonSet', 'collector');
}
