import { AuthFailure, type CollectorAuthenticator, type CollectorIdentity, type PeerCredentials } from './identity.js';

/**
 * mTLS collector authentication outside Kubernetes (--ingest-tls-client-ca). The TLS
 * handshake of the ingest port already refused every certificate not signed by the collector
 * CA (KEDA's client certificate included: it is signed by the --tls-client-ca CA, which the
 * ingest port does not trust). What is left is the identity: the certificate's subject CN
 * names the node the collector speaks for.
 */
export class TlsClientAuthenticator implements CollectorAuthenticator {
  readonly method = 'tls' as const;

  authenticate(peer: PeerCredentials): Promise<CollectorIdentity> {
    const cert = peer.certificate;
    if (!cert) return Promise.reject(new AuthFailure('certificate', 'collector client certificate required (signed by the --ingest-tls-client-ca CA)'));
    const cn = cert.subject?.CN;
    const nodeName = Array.isArray(cn) ? undefined : cn;
    if (nodeName === undefined || nodeName === '') {
      return Promise.reject(new AuthFailure('certificate', 'collector certificate has no subject CN; its CN must be the node name'));
    }
    return Promise.resolve({ method: 'tls', principal: `CN=${nodeName}`, nodeName });
  }
}
