import { createSecureContext } from 'node:tls';
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
  const cert = read(certFile, 'certificate');
  const key = read(keyFile, 'private key');
  // grpc-js checks the pair only when binding ("cannot listen on ...: key values mismatch"):
  // check it now and name the flags.
  try {
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      /mismatch/i.test(reason)
        ? `--tls-key ${keyFile} is not the private key of --tls-cert ${certFile} (${reason}); give the key the certificate was issued for`
        : `--tls-cert ${certFile} / --tls-key ${keyFile}${clientCaFile ? ` / --tls-client-ca ${clientCaFile}` : ''}: not usable PEM (${reason}); give PEM files`,
      { cause: err },
    );
  }
  return grpc.ServerCredentials.createSsl(clientCa, [{ cert_chain: cert, private_key: key }], clientCa !== null);
}
