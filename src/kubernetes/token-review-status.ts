import { z } from 'zod';

/**
 * TokenReview (authentication.k8s.io/v1) answers as this project reads them, without the
 * Kubernetes client (token-review.ts holds the API call), so the authenticator and its tests
 * do not load it.
 */

/** The part of TokenReview.status this project reads; unknown fields tolerated. */
export const tokenReviewStatusSchema = z.object({
  authenticated: z.boolean().optional(),
  audiences: z.array(z.string()).optional(),
  error: z.string().optional(),
  user: z
    .object({
      username: z.string().optional(),
      uid: z.string().optional(),
      groups: z.array(z.string()).optional(),
      extra: z.record(z.string(), z.array(z.string())).optional(),
    })
    .optional(),
});

export type TokenReviewStatus = z.infer<typeof tokenReviewStatusSchema>;

/** Extra key the API server adds for a token bound to a pod (Kubernetes >= 1.30, ServiceAccountTokenPodNodeInfo). */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

export type TokenReviewer = (token: string, audiences: readonly string[]) => Promise<TokenReviewStatus>;

