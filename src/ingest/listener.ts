import { DEFAULT_MAX_REPORT_BYTES } from '../scaler/limits.js';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { loadCollector } from '../proto/load.js';
import type { StreamTracker } from '../server/streams.js';
import type { CollectorAuthenticator } from './auth/identity.js';
import type { Ingest } from './ingest.js';
import { collectorIngestHandlers } from './service.js';
import { reportDecoder, type DescriptorField } from './report-decoder.js';
import type { CollectorMessage__Output } from '../proto/generated/kedaebpf/collector/v1/CollectorMessage.js';

/**
 * The collectors' own port: CollectorIngest (and grpc.health.v1) only, apart from the port
 * KEDA calls, so a NetworkPolicy can admit KEDA to one and the collectors to the other, and
 * each port has its own credentials (a collector CA that is not KEDA's).
 */
export interface IngestListenerOptions {
  /** HOST:PORT; port 0 picks a free one. */
  readonly listen: string;
  /** Default: plaintext (then a token authenticates collectors). */
  readonly credentials?: grpc.ServerCredentials;
  readonly authenticator: CollectorAuthenticator;
  /** Largest message decoded, checked on the length prefix before decoding (default DEFAULT_MAX_REPORT_BYTES). */
  readonly maxReceiveMessageBytes?: number;
  /** See CollectorIngestOptions. */
  readonly slowReaderMs?: number;
  readonly maxWatchSetPartBytes?: number;
}

export const DEFAULT_INGEST_LISTEN = '0.0.0.0:9091';

const SERVICE_NAMES = ['', 'kedaebpf.collector.v1.CollectorIngest'] as const;

export interface IngestListener {
  /** Binds; resolves with the bound port. Throws Error "cannot listen on ...". */
  start(): Promise<number>;
  setNotServing(): void;
  tryShutdown(done: () => void): void;
  forceShutdown(): void;
}

export function createIngestListener(options: IngestListenerOptions, ingest: Ingest, streams: StreamTracker, log: Logger): IngestListener {
  // Channelz off as on the KEDA port (server/server.ts): nothing serves its data.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_REPORT_BYTES, 'grpc.enable_channelz': 0 });
  // Connect's messages reach the handler as the bytes received: they are decoded in the
  // ingest queue's slices (service.ts), so decoding is budgeted like merging, and a report
  // waiting there holds its wire bytes, not its ~10x larger decoded objects.
  const collectorPackage = loadCollector().kedaebpf.collector.v1;
  const definition = collectorPackage.CollectorIngest.service;
  // Reports decode straight to plain objects (report-decoder.ts); anything else through protobufjs.
  const types = collectorPackage as unknown as Record<string, { type?: { field: readonly DescriptorField[] } } | undefined>;
  const fastDecode = reportDecoder((name) => types[name]?.type);
  const decode = (bytes: Buffer): CollectorMessage__Output => fastDecode?.(bytes) ?? definition.Connect.requestDeserialize(bytes);
  const rawDefinition: grpc.ServiceDefinition = { ...definition, Connect: { ...definition.Connect, requestDeserialize: (bytes: Buffer): Buffer => bytes } };
  server.addService(
    rawDefinition,
    collectorIngestHandlers(ingest, streams, log, {
      decode,
      authenticator: options.authenticator,
      ...(options.slowReaderMs !== undefined ? { slowReaderMs: options.slowReaderMs } : {}),
      ...(options.maxWatchSetPartBytes !== undefined ? { maxWatchSetPartBytes: options.maxWatchSetPartBytes } : {}),
    }),
  );
  const health = new HealthImplementation(Object.fromEntries(SERVICE_NAMES.map((name) => [name, 'SERVING' as const])));
  health.addToServer(server);
  return {
    start: () =>
      new Promise((resolve, reject) => {
        server.bindAsync(options.listen, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) reject(new Error(`cannot listen on ${options.listen} (--ingest-listen): ${err.message}`, { cause: err }));
          else {
            log.info({ listen: options.listen, port, auth: options.authenticator.method }, 'collector ingest listening');
            resolve(port);
          }
        });
      }),
    setNotServing: () => {
      for (const name of SERVICE_NAMES) health.setStatus(name, 'NOT_SERVING');
    },
    tryShutdown: (done) => server.tryShutdown(() => done()),
    forceShutdown: () => server.forceShutdown(),
  };
}
