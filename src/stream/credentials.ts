import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { UsageError } from '../config/flags.js';

export interface ClientTlsFiles {
  /** PEM CA that signed the server's certificate; with it (or a client cert) the dial uses TLS. */
  readonly caFile?: string | undefined;
  /** PEM client certificate and key for mTLS; both or neither. */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

/** Channel credentials from TLS flag values: plaintext when none are given. */
export function clientCredentials(files: ClientTlsFiles): grpc.ChannelCredentials {
  const { caFile, certFile, keyFile } = files;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  if (caFile === undefined && certFile === undefined) return grpc.credentials.createInsecure();
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`--${flag}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return grpc.credentials.createSsl(
    caFile !== undefined ? read(caFile, 'tls-ca') : null,
    keyFile !== undefined ? read(keyFile, 'tls-key') : null,
    certFile !== undefined ? read(certFile, 'tls-cert') : null,
  );
}
