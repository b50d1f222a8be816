import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { classifyApiError, KubernetesError } from './errors.js';
import { tokenReviewStatusSchema, type TokenReviewer } from './token-review-status.js';

/**
 * The TokenReview API (authentication.k8s.io/v1): asks the API server whether a bearer token
 * is valid for the given audiences and whose it is. Needs RBAC `create` on `tokenreviews`
 * (manifests/base/rbac.yaml grants it to the scaler only).
 */

/** A reviewer backed by the API server; each review gives up after `timeoutMs` (UNAVAILABLE). */
export function apiTokenReviewer(kubeConfig: KubeConfig, timeoutMs: number): TokenReviewer {
  const api = kubeConfig.makeApiClient(AuthenticationV1Api);
  return async (token, audiences) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KubernetesError('API_UNAVAILABLE', `Kubernetes API server did not answer a TokenReview within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
    });
    try {
      const review = await Promise.race([
        api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [...audiences] } } }),
        timeout,
      ]);
      const parsed = tokenReviewStatusSchema.safeParse(review.status ?? {});
      if (!parsed.success) throw new KubernetesError('API_ERROR', `TokenReview status has an unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return parsed.data;
    } catch (err) {
      if (err instanceof KubernetesError) throw err;
      throw classifyApiError(err, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' });
    } finally {
      clearTimeout(timer);
    }
  };
}
