import type { CollectorAuthenticator, CollectorIdentity } from './identity.js';

/**
 * `--ingest-auth none`: every peer is a collector that may name any node. Only allowed on a
 * loopback ingest address (cli/ingest-flags.ts), for development and single-host tests.
 */
export class AnyPeerAuthenticator implements CollectorAuthenticator {
  readonly method = 'none' as const;

  authenticate(): Promise<CollectorIdentity> {
    return Promise.resolve({ method: 'none', principal: 'anonymous' });
  }
}
