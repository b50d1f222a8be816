import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO } from './procs.js';

/**
 * The node flags the shipped manifests give the scaler (NODE_OPTIONS of the scaler container
 * in manifests/base/scaler.yaml), so the benchmarks measure RSS under the same heap limit as
 * a deployment; [] when the manifest sets none.
 */
export function shippedScalerNodeFlags(): string[] {
  const docs = fs
    .readFileSync(path.join(REPO, 'manifests/base/scaler.yaml'), 'utf8')
    .split(/^---$/m)
    .map((d) => parse(d) as { kind?: string; spec?: { template?: { spec?: { containers?: { name: string; env?: { name: string; value?: string }[] }[] } } } } | null);
  const deployment = docs.find((d) => d?.kind === 'Deployment');
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'scaler');
  const value = container?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  return value.split(' ').filter(Boolean);
}
