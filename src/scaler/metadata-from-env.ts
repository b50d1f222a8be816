import { ScalerError } from '../errors.js';

/**
 * KEDA resolves a trigger key `<key>FromEnv: VAR` from the scaled workload's container
 * environment and forwards the value under the suffixed key (`targetValueFromEnv: "50"`),
 * as every built-in scaler reads it. Here it is read as `<key>` for every key of `keys`;
 * giving both is ambiguous and refused. Empty values count as absent, as for plain keys.
 */
export const FROM_ENV_SUFFIX = 'FromEnv';

export function resolveFromEnvKeys(metadata: Readonly<Record<string, string>>, keys: readonly string[]): Record<string, string> {
  const resolved: Record<string, string> = { ...metadata };
  const conflicts: string[] = [];
  for (const key of keys) {
    const fromEnv = metadata[`${key}${FROM_ENV_SUFFIX}`];
    if (fromEnv === undefined || fromEnv.trim() === '') continue;
    if (metadata[key] !== undefined && metadata[key].trim() !== '') {
      conflicts.push(`metadata "${key}" and "${key}${FROM_ENV_SUFFIX}" are both set; keep one of them`);
      continue;
    }
    resolved[key] = fromEnv;
  }
  if (conflicts.length > 0) throw new ScalerError('INVALID_METADATA', conflicts.join('; '));
  return resolved;
}
