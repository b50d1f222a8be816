import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ScalerError, toGrpcStatus } from '../errors.js';
import type { CollectorIngestHandlers } from '../proto/generated/kedaebpf/collector/v1/CollectorIngest.js';
import type { CollectorMessage__Output } from '../proto/generated/kedaebpf/collector/v1/CollectorMessage.js';
import type { ScalerMessage } from '../proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import type { StreamTracker } from '../server/streams.js';
import type { Ingest, IngestSession } from './ingest.js';

/** How long a connected collector may take to say Hello. */
const HELLO_TIMEOUT_MS = 10_000;

type ConnectCall = grpc.ServerDuplexStream<CollectorMessage__Output, ScalerMessage>;

/**
 * gRPC shell of CollectorIngest.Connect: Hello -> Welcome + WatchSet; WatchSet again on
 * every registry change; reports handed to Ingest (bad ones are counted there, the stream
 * stays up). Protocol violations end the stream with an error status.
 */
export function collectorIngestHandlers(ingest: Ingest, streams: StreamTracker, log: Logger): CollectorIngestHandlers {
  return {
    Connect(call: ConnectCall): void {
      let session: IngestSession | undefined;
      let finished = false;
      const helloTimer = setTimeout(() => fail(new ScalerError('PROTOCOL_VIOLATION', `no Hello within ${HELLO_TIMEOUT_MS} ms`)), HELLO_TIMEOUT_MS);
      const cleanup = (): void => {
        clearTimeout(helloTimer);
        untrack();
        session?.close();
      };
      const finish = (end: () => void): void => {
        if (finished) return;
        finished = true;
        cleanup();
        end();
      };
      const fail = (err: unknown): void => {
        const status = toGrpcStatus(err);
        log.warn({ code: status.code, details: status.details, peer: call.getPeer() }, 'collector stream refused');
        finish(() => call.emit('error', { code: status.code, details: status.details }));
      };
      const untrack = streams.add({ end: () => finish(() => call.end()) });
      if (streams.isClosing) {
        fail(new ScalerError('SHUTTING_DOWN', 'scaler is shutting down'));
        return;
      }

      call.on('data', (message: CollectorMessage__Output) => {
        if (finished) return;
        try {
          if (message.body === 'hello' && message.hello) {
            if (session) throw new ScalerError('PROTOCOL_VIOLATION', 'second Hello on one stream');
            clearTimeout(helloTimer);
            session = ingest.openSession(message.hello);
            call.write({ welcome: session.welcome });
            call.write({ watch_set: session.watchSet() });
            session.onWatchSet((watchSet) => {
              if (!finished) call.write({ watch_set: watchSet });
            });
          } else if (message.body === 'report' && message.report) {
            if (!session) throw new ScalerError('PROTOCOL_VIOLATION', 'Report before Hello');
            session.report(message.report);
          } else {
            throw new ScalerError('PROTOCOL_VIOLATION', 'empty CollectorMessage (neither hello nor report)');
          }
        } catch (err) {
          fail(err);
        }
      });
      // The collector closed its side: close ours with OK.
      call.on('end', () => finish(() => call.end()));
      call.on('cancelled', () => {
        if (!finished) {
          finished = true;
          cleanup();
        }
      });
      call.on('error', () => {
        if (!finished) {
          finished = true;
          cleanup();
        }
      });
    },
  };
}
