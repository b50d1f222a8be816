import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { UsageError } from '../config/flags.js';
import type { Logger } from '../log.js';

/**
 * The collector's credential for the scaler's ingest port (--token-file): a bearer token read
 * from a file again on every connect, because the kubelet rotates a projected ServiceAccount
 * token in place (and an operator may rotate a shared secret the same way).
 */
export function tokenFileMetadata(path: string, log: Logger): () => grpc.Metadata {
  const read = (): string => readFileSync(path, 'utf8').trim();
  let token: string;
  try {
    token = read();
  } catch (err) {
    throw new UsageError(`--token-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); give the file holding the collector's token`, { cause: err });
  }
  if (token === '' || /\s/.test(token)) throw new UsageError(`--token-file ${path}: expected one token (no spaces), found ${token === '' ? 'an empty file' : 'whitespace inside'}`);
  return () => {
    try {
      const fresh = read();
      if (fresh !== '' && !/\s/.test(fresh)) token = fresh;
    } catch (err) {
      log.warn({ tokenFile: path, err: (err as Error).message }, 'cannot read the token file again; using the token read before');
    }
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  };
}
