import type { PeerCertificate } from 'node:tls';
import { ScalerError } from '../../errors.js';
import type { Metadata } from '@grpc/grpc-js';

/**
 * Who a collector stream proved to be. The node it may speak for comes from its credential
 * (a token bound to a node, a certificate's subject), never from its Hello; `nodeName`
 * undefined means the credential is not bound to a node (a shared token: the Hello names it).
 */
export interface CollectorIdentity {
  /** How it authenticated: "kubernetes" (TokenReview), "token" (token file), "tls" (collector CA), "in-process", "none". */
  readonly method: 'kubernetes' | 'token' | 'tls' | 'in-process' | 'none';
  /** The verified principal, for logs (a ServiceAccount user name, a certificate subject, "token:N"). */
  readonly principal: string;
  readonly nodeName?: string;
}

/** What the transport tells about a peer before it has said anything. */
export interface PeerCredentials {
  /** The bearer token of the call's `authorization` metadata, if any. */
  readonly bearerToken?: string;
  /** The client certificate, present only when it verified against the collector CA. */
  readonly certificate?: PeerCertificate;
}

/**
 * Decides whether a peer may act as a collector. Throws ScalerError COLLECTOR_UNAUTHENTICATED
 * (no or bad credentials) or COLLECTOR_FORBIDDEN (verified, but not a collector) and, on
 * success, returns the identity; never reveals anything to the peer itself.
 */
export interface CollectorAuthenticator {
  readonly method: CollectorIdentity['method'];
  authenticate(peer: PeerCredentials): Promise<CollectorIdentity>;
}

/** Longest bearer token accepted: projected ServiceAccount tokens are ~1 KB; this bounds parsing and caching. */
export const MAX_BEARER_TOKEN_BYTES = 16 * 1024;

/** The `authorization: Bearer TOKEN` value of gRPC metadata (undefined when absent or malformed). */
export function bearerToken(metadata: Metadata): string | undefined {
  const values = metadata.get('authorization');
  if (values.length !== 1) return undefined;
  const value = values[0];
  if (typeof value !== 'string' || value.length > MAX_BEARER_TOKEN_BYTES + 7) return undefined;
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(value);
  return match?.[1];
}

/** Why a peer was refused: the key of the auth-failure counter (IngestStats.authFailures). */
export type AuthFailureReason =
  | 'missing-credentials'
  | 'token-rejected'
  | 'wrong-audience'
  | 'wrong-service-account'
  | 'no-node-binding'
  | 'node-mismatch'
  | 'certificate'
  | 'review-unavailable';

/** A refusal with its counter reason; the message is what the peer is told (nothing it did not send). */
export class AuthFailure extends ScalerError {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    const code = reason === 'review-unavailable' ? 'KUBERNETES_UNAVAILABLE' : ['wrong-service-account', 'no-node-binding', 'node-mismatch'].includes(reason) ? 'COLLECTOR_FORBIDDEN' : 'COLLECTOR_UNAUTHENTICATED';
    super(code, message, options);
  }
}
