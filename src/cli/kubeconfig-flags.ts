import { UsageError } from '../config/flags.js';
import { KubeConfigError, loadKubeConfig, type BoundedKubeConfig } from '../kubernetes/kubeconfig.js';

/** The API server connection of --kubeconfig / the environment; a bad one is a usage error (one sentence, exit 2). */
export function kubeConfigFromFlags(kubeconfig: string | undefined, env: NodeJS.ProcessEnv): BoundedKubeConfig {
  try {
    return loadKubeConfig({ kubeconfigPath: kubeconfig, env });
  } catch (err) {
    if (err instanceof KubeConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}
