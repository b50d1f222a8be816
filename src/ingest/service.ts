import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ScalerError, toGrpcStatus } from '../errors.js';
import type { CollectorMessage__Output } from '../proto/generated/kedaebpf/collector/v1/CollectorMessage.js';
import type { ScalerMessage } from '../proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import type { StreamTracker } from '../server/streams.js';
import { AuthFailure, bearerToken, type CollectorAuthenticator, type CollectorIdentity } from './auth/identity.js';
import { BudgetedQueue } from './budgeted-queue.js';
import type { Ingest, IngestSession } from './ingest.js';
import { resetServerStream } from './reset-stream.js';
import { DEFAULT_SLOW_READER_MS, WatchSetSender } from './watch-set-sender.js';

/** How long a connected collector may take to authenticate and say Hello. */
const HELLO_TIMEOUT_MS = 10_000;

/** Messages a peer may send before its credentials are verified (Hello, and a report racing it). */
const MAX_MESSAGES_BEFORE_AUTH = 4;

/**
 * Reports of one stream waiting in the ingest queue before the stream is paused (its
 * collector then waits on HTTP/2 flow control), and the count at which it reads again.
 */
const MAX_QUEUED_REPORTS_PER_STREAM = 4;
const RESUME_AT_QUEUED_REPORTS = 1;

/** One warn line about refused peers per this many ms; the rest are counted (IngestStats.authFailures). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Connect's messages arrive as received bytes (listener.ts) and are decoded here with `decode`. */
type ConnectCall = grpc.ServerDuplexStream<Buffer, ScalerMessage>;

export interface CollectorIngestOptions {
  /** Decodes one CollectorMessage (the method's own deserializer); throws on garbage. */
  readonly decode: (bytes: Buffer) => CollectorMessage__Output;
  /** Who may act as a collector; checked before a peer's first message is read. */
  readonly authenticator: CollectorAuthenticator;
  /** A stream that leaves the scaler's writes unread this long is disconnected. Default 30 s. */
  readonly slowReaderMs?: number;
  /** Bytes per WatchSet message. Default WATCH_SET_PART_BYTES (1 MiB). */
  readonly maxWatchSetPartBytes?: number;
  /** Where reports wait to be applied in bounded slices (budgeted-queue.ts). Default: one per handler set. */
  readonly queue?: BudgetedQueue;
}

/**
 * gRPC shell of CollectorIngest.Connect (served on the ingest port only): credentials
 * first (UNAUTHENTICATED / PERMISSION_DENIED before anything is read or revealed), then
 * Hello -> Welcome + WatchSet (in parts, through a bounded per-stream queue); WatchSet again
 * on every registry change; reports handed to Ingest (bad ones are counted there, the stream
 * stays up) through a queue applied in bounded slices per event-loop turn, so KEDA's calls
 * are answered in between (budgeted-queue.ts). Protocol violations end the stream with an
 * error status.
 */
export function collectorIngestHandlers(ingest: Ingest, streams: StreamTracker, log: Logger, options: CollectorIngestOptions): grpc.UntypedServiceImplementation {
  const queue = options.queue ?? new BudgetedQueue();
  let lastRefusalLogMs = -Infinity;
  let refusalsSinceLog = 0;
  const logRefusal = (fields: Record<string, unknown>): void => {
    const now = Date.now();
    if (now - lastRefusalLogMs >= REFUSAL_LOG_INTERVAL_MS) {
      log.warn({ ...fields, refusedSinceLastLine: refusalsSinceLog }, 'collector stream refused');
      lastRefusalLogMs = now;
      refusalsSinceLog = 0;
    } else {
      refusalsSinceLog++;
      log.debug(fields, 'collector stream refused');
    }
  };
  return {
    Connect(call: ConnectCall): void {
      let session: IngestSession | undefined;
      let sender: WatchSetSender | undefined;
      let identity: CollectorIdentity | undefined;
      let finished = false;
      /** This stream's reports in the queue, and whether it is paused for having too many. */
      let queuedReports = 0;
      let paused = false;
      const early: Buffer[] = [];
      const helloTimer = setTimeout(() => fail(new ScalerError('PROTOCOL_VIOLATION', `no Hello within ${HELLO_TIMEOUT_MS} ms`)), HELLO_TIMEOUT_MS);
      const cleanup = (): void => {
        clearTimeout(helloTimer);
        untrack();
        sender?.close();
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
        if (err instanceof AuthFailure) ingest.countAuthFailure(err.reason);
        logRefusal({ code: status.code, details: status.details, peer: call.getPeer(), ...(err instanceof AuthFailure ? { reason: err.reason } : {}), ...(identity ? { principal: identity.principal } : {}) });
        finish(() => call.emit('error', { code: status.code, details: status.details }));
      };
      const untrack = streams.add({ end: () => finish(() => call.end()) });
      if (streams.isClosing) {
        fail(new ScalerError('SHUTTING_DOWN', 'scaler is shutting down'));
        return;
      }

      const decoded = (bytes: Buffer): CollectorMessage__Output => {
        try {
          return options.decode(bytes);
        } catch (err) {
          throw new ScalerError('PROTOCOL_VIOLATION', `undecodable CollectorMessage (${bytes.length} bytes): ${err instanceof Error ? err.message : String(err)}`);
        }
      };
      const apply = (message: CollectorMessage__Output): void => {
        if (message.body === 'hello' && message.hello) throw new ScalerError('PROTOCOL_VIOLATION', 'second Hello on one stream');
        if (message.body !== 'report' || !message.report) throw new ScalerError('PROTOCOL_VIOLATION', 'empty CollectorMessage (neither hello nor report)');
        session?.report(message.report);
      };
      const handle = (bytes: Buffer): void => {
        if (finished) return;
        try {
          if (session) {
            // Decoded and applied in the queue's slices, in arrival order.
            queuedReports++;
            if (queuedReports >= MAX_QUEUED_REPORTS_PER_STREAM && !paused) {
              paused = true;
              call.pause();
            }
            queue.push(() => {
              queuedReports--;
              if (paused && queuedReports <= RESUME_AT_QUEUED_REPORTS) {
                paused = false;
                if (!finished) call.resume();
              }
              // A stream that ended or failed meanwhile: its session is closed, its reports go with it.
              if (finished) return;
              try {
                apply(decoded(bytes));
              } catch (err) {
                fail(err);
              }
            });
            return;
          }
          const message = decoded(bytes);
          if (message.body === 'hello' && message.hello) {
            clearTimeout(helloTimer);
            session = ingest.openSession(message.hello, identity);
            const s = session;
            call.write({ welcome: s.welcome });
            sender = new WatchSetSender({
              write: (watchSet, done) => {
                if (finished) return;
                call.write({ watch_set: watchSet }, done);
              },
              onSlowReader: () => {
                ingest.countSlowReader();
                fail(new ScalerError('SLOW_READER', `collector did not read the scaler's messages for ${options.slowReaderMs ?? DEFAULT_SLOW_READER_MS} ms; disconnected`));
                // The status would wait behind the unread messages forever: drop the stream and them.
                resetServerStream(call);
              },
              slowReaderMs: options.slowReaderMs ?? DEFAULT_SLOW_READER_MS,
              ...(options.maxWatchSetPartBytes !== undefined ? { maxPartBytes: options.maxWatchSetPartBytes } : {}),
            });
            const out = sender;
            out.send(s.watchSet());
            s.onWatchSet((watchSet) => {
              if (!finished) out.send(watchSet);
            });
          } else if (message.body === 'report' && message.report) {
            throw new ScalerError('PROTOCOL_VIOLATION', 'Report before Hello');
          } else {
            throw new ScalerError('PROTOCOL_VIOLATION', 'empty CollectorMessage (neither hello nor report)');
          }
        } catch (err) {
          fail(err);
        }
      };

      // Messages are held (a few) until the peer's credentials are verified: an unverified
      // peer gets no Welcome, no watch set, and its reports are never parsed.
      call.on('data', (message: Buffer) => {
        if (finished) return;
        if (identity) handle(message);
        else if (early.length < MAX_MESSAGES_BEFORE_AUTH) early.push(message);
        else fail(new ScalerError('PROTOCOL_VIOLATION', 'too many messages before the credentials were verified'));
      });
      options.authenticator
        .authenticate({
          ...(bearerToken(call.metadata) !== undefined ? { bearerToken: bearerToken(call.metadata)! } : {}),
          ...(call.getAuthContext?.()?.sslPeerCertificate ? { certificate: call.getAuthContext()!.sslPeerCertificate! } : {}),
        })
        .then(
          (verified) => {
            if (finished) return;
            identity = verified;
            for (const message of early.splice(0)) handle(message);
          },
          (err: unknown) => fail(err),
        );
      // The collector closed its side: close ours with OK once its queued reports are applied.
      call.on('end', () => queue.push(() => finish(() => call.end())));
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
