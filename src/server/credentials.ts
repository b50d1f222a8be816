import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

export interface TlsFiles {
  readonly certFile?: string;
  readonly keyFile?: string;
  /** When given, clients must present a certificate signed by this CA (mTLS, as KEDA does with a client cert). */
  readonly clientCaFile?: string;
}

/** Plaintext without files; TLS with cert+key; mTLS when a client CA is added. */
export function serverCredentials(tls: TlsFiles): grpc.ServerCredentials {
  const { certFile, keyFile, clientCaFile } = tls;
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new Error('--tls-client-ca needs --tls-cert and --tls-key');
    return grpc.ServerCredentials.createInsecure();
  }
  if (certFile === undefined || keyFile === undefined) throw new Error('TLS needs both --tls-cert and --tls-key');
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${what} ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  const clientCa = clientCaFile === undefined ? null : read(clientCaFile, 'client CA');
  return grpc.ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: read(certFile, 'certificate'), private_key: read(keyFile, 'private key') }],
    clientCa !== null,
  );
}
