import { KubeConfig } from '@kubernetes/client-node';

/**
 * The API server connection: an explicit kubeconfig file when given, else the library's
 * default order ($KUBECONFIG, ~/.kube/config, then the in-cluster service account token
 * and CA, which is what the scaler and collector pods use).
 */
export function loadKubeConfig(options: { readonly kubeconfigPath?: string | undefined } = {}): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfigPath) kc.loadFromFile(options.kubeconfigPath);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes API server configured (no kubeconfig and not running in a pod)');
  return kc;
}
