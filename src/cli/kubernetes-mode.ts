import { z } from 'zod';
import { optionalFileSchema } from '../config/flag-schemas.js';
import type { FlagSpec } from '../config/flags.js';
import type { Logger } from '../log.js';

/**
 * Flags and the one decision shared by `scaler` and `collector`: whether to talk to the
 * Kubernetes API. `auto` means yes inside a pod (the service account is mounted and
 * KUBERNETES_SERVICE_HOST is set) or when a kubeconfig is named, no otherwise.
 */
export const kubernetesFlags = [
  {
    name: 'kubernetes',
    env: 'KEDA_EBPF_KUBERNETES',
    valueName: 'auto|on|off',
    description: 'Kubernetes mode: resolve `service` metadata (scaler) and map pods to network namespaces (collector). auto = on inside a pod or with --kubeconfig. Default auto.',
    schema: z.enum(['auto', 'on', 'off']).default('auto'),
  },
  { name: 'kubeconfig', env: 'KUBECONFIG', valueName: 'FILE', description: 'kubeconfig to use outside a cluster (inside, the pod\'s service account is used).', schema: optionalFileSchema },
] as const satisfies readonly FlagSpec[];

export function kubernetesEnabled(mode: 'auto' | 'on' | 'off', kubeconfig: string | undefined, env: NodeJS.ProcessEnv, log: Logger): boolean {
  if (mode !== 'auto') return mode === 'on';
  const inCluster = Boolean(env['KUBERNETES_SERVICE_HOST']);
  const enabled = inCluster || kubeconfig !== undefined;
  log.info({ kubernetes: enabled, reason: inCluster ? 'running in a pod' : kubeconfig ? '--kubeconfig given' : 'no cluster found' }, 'kubernetes mode (auto)');
  return enabled;
}
