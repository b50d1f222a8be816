import { createHash } from 'node:crypto';
import { NODE_NAME_EXTRA, type TokenReviewer, type TokenReviewStatus } from '../../kubernetes/token-review-status.js';
import { AuthFailure, type CollectorAuthenticator, type CollectorIdentity, type PeerCredentials } from './identity.js';
import { dropOldest } from '../../bounded-map.js';

/**
 * Kubernetes collector authentication: the collector sends its projected ServiceAccount
 * token (audience keda-ebpf-scaler, short-lived, rotated by the kubelet); the scaler asks
 * the API server (TokenReview) whether it is valid for that audience, checks it belongs to
 * the collectors' ServiceAccount, and takes the node from the token's pod binding.
 *
 * Verdicts are cached by the token's SHA-256 (never the token itself), bounded in entries
 * and in time: a positive one at most `cacheTtlMs` and never past the token's own expiry,
 * a negative one briefly (so a peer retrying a bad token does not become an API-server
 * load), and concurrent reviews of one token share one API call.
 */
export interface TokenReviewAuthOptions {
  readonly review: TokenReviewer;
  /** The audience collectors' tokens must be issued for. */
  readonly audience: string;
  /** "NAMESPACE:NAME" of the collectors' ServiceAccount. */
  readonly serviceAccount: string;
  readonly clock: () => number;
  /** Default 60 s. */
  readonly cacheTtlMs?: number;
  /** Default 10 s. */
  readonly negativeCacheTtlMs?: number;
  /** Default 4096 entries. */
  readonly maxCacheEntries?: number;
}

interface Verdict {
  readonly expiresAtMs: number;
  readonly identity?: CollectorIdentity;
  readonly failure?: AuthFailure;
}

export const DEFAULT_TOKEN_CACHE_TTL_MS = 60_000;
export const DEFAULT_NEGATIVE_CACHE_TTL_MS = 10_000;
/** One entry per collector (per node) plus rotation overlap; 4096 covers large clusters in ~1 MB. */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 4096;

export class TokenReviewAuthenticator implements CollectorAuthenticator {
  readonly method = 'kubernetes' as const;
  private readonly cache = new Map<string, Verdict>();
  private readonly pending = new Map<string, Promise<Verdict>>();
  private readonly username: string;
  private reviews = 0;

  constructor(private readonly options: TokenReviewAuthOptions) {
    const [namespace, name] = options.serviceAccount.split(':');
    this.username = `system:serviceaccount:${namespace}:${name}`;
  }

  /** TokenReview calls made (cache misses), for tests and stats. */
  get reviewCount(): number {
    return this.reviews;
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  async authenticate(peer: PeerCredentials): Promise<CollectorIdentity> {
    const token = peer.bearerToken;
    if (token === undefined) throw new AuthFailure('missing-credentials', 'collector credentials required: send the projected ServiceAccount token as "authorization: Bearer TOKEN" (collector --token-file)');
    const key = createHash('sha256').update(token).digest('base64');
    const now = this.options.clock();
    let verdict = this.cache.get(key);
    if (verdict && verdict.expiresAtMs <= now) {
      this.cache.delete(key);
      verdict = undefined;
    }
    if (!verdict) {
      let review = this.pending.get(key);
      if (!review) {
        review = this.review(token, key).finally(() => this.pending.delete(key));
        this.pending.set(key, review);
      }
      verdict = await review;
    }
    if (verdict.failure) throw verdict.failure;
    return verdict.identity!;
  }

  private async review(token: string, key: string): Promise<Verdict> {
    this.reviews++;
    let status: TokenReviewStatus;
    try {
      status = await this.options.review(token, [this.options.audience]);
    } catch (err) {
      // Not cached: the API server may answer the next attempt.
      return { expiresAtMs: 0, failure: new AuthFailure('review-unavailable', 'cannot verify collector credentials right now; retry', { cause: err }) };
    }
    const now = this.options.clock();
    const verdict = this.judge(status, token, now);
    this.remember(key, verdict, now);
    return verdict;
  }

  private judge(status: TokenReviewStatus, token: string, now: number): Verdict {
    const negative = (failure: AuthFailure): Verdict => ({ failure, expiresAtMs: now + (this.options.negativeCacheTtlMs ?? DEFAULT_NEGATIVE_CACHE_TTL_MS) });
    if (status.authenticated !== true) {
      const wrongAudience = /audience/i.test(status.error ?? '');
      return negative(new AuthFailure(wrongAudience ? 'wrong-audience' : 'token-rejected', 'collector token not accepted'));
    }
    if (status.audiences !== undefined && !status.audiences.includes(this.options.audience)) {
      return negative(new AuthFailure('wrong-audience', `collector token not accepted: it must be issued for audience "${this.options.audience}"`));
    }
    if (status.user?.username !== this.username) {
      return negative(new AuthFailure('wrong-service-account', `this identity may not act as a collector (collectors run as ServiceAccount ${this.options.serviceAccount})`));
    }
    const nodes = status.user.extra?.[NODE_NAME_EXTRA] ?? [];
    if (nodes.length !== 1 || !nodes[0]) {
      return negative(new AuthFailure('no-node-binding', 'collector token is not bound to a pod on a node (use a projected ServiceAccount token; Kubernetes >= 1.30 records the node)'));
    }
    const tokenExpiry = jwtExpiryMs(token);
    const ttl = this.options.cacheTtlMs ?? DEFAULT_TOKEN_CACHE_TTL_MS;
    return {
      identity: { method: 'kubernetes', principal: this.username, nodeName: nodes[0] },
      expiresAtMs: Math.min(now + ttl, tokenExpiry ?? Infinity),
    };
  }

  private remember(key: string, verdict: Verdict, now: number): void {
    if (verdict.expiresAtMs <= now) return;
    const max = this.options.maxCacheEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
    if (this.cache.size >= max) {
      for (const [k, v] of this.cache) if (v.expiresAtMs <= now) this.cache.delete(k);
      dropOldest(this.cache, max - 1);
    }
    this.cache.set(key, verdict);
  }
}

/**
 * The `exp` claim of a JWT, unverified: only used to forget a cached verdict no later than
 * the token itself expires (the API server did the verification). Undefined when absent.
 */
export function jwtExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 8192) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
