import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ScalerError, toGrpcStatus } from '../errors.js';
import type { Ingest } from '../ingest/ingest.js';
import type { ExternalScalerHandlers } from '../proto/generated/externalscaler/ExternalScaler.js';
import type { GetMetricSpecResponse } from '../proto/generated/externalscaler/GetMetricSpecResponse.js';
import type { IsActiveResponse } from '../proto/generated/externalscaler/IsActiveResponse.js';
import type { ScaledObjectRef__Output } from '../proto/generated/externalscaler/ScaledObjectRef.js';
import { evaluate } from '../scaler/evaluate.js';
import type { TargetRegistry } from '../scaler/registry.js';
import { sameMetricName } from '../scaler/target.js';
import type { StreamTracker } from '../server/streams.js';
import type { FirstReportGate } from './first-report-gate.js';
import { prepareTrigger, type PreparedTrigger } from './trigger.js';

export interface KedaServiceDeps {
  readonly registry: TargetRegistry;
  readonly ingest: Ingest;
  readonly streams: StreamTracker;
  readonly clock: () => number;
  readonly log: Logger;
  /** Holds a target's first activity answer after start-up until collectors reported on it. */
  readonly firstReport?: FirstReportGate;
}

/** A stream re-checks its state this long after the predicted change, to land past the slot edge. */
const TIMER_SLACK_MS = 5;

function metricSpecResponse(p: PreparedTrigger): GetMetricSpecResponse {
  const targetValue = p.trigger.targetValue;
  return {
    metricSpecs: [
      {
        metricName: p.metricName,
        // Old operators read only the int64; 0 would be an invalid HPA target, so at least 1.
        targetSize: Math.max(1, Math.round(targetValue)),
        targetSizeFloat: targetValue,
      },
    ],
  };
}

/** KEDA may echo the name with its "sN-" prefix; it usually sends it bare. */
function requestedMatches(requested: string, expected: string): boolean {
  return sameMetricName(requested, expected) || sameMetricName(requested.replace(/^s\d+-/i, ''), expected);
}

/**
 * externalscaler.ExternalScaler: every RPC parses the trigger, registers its target and
 * answers from one evaluate(); the streams push on ingest of their target's data and on
 * the predicted moment activity ages out.
 */
export function externalScalerHandlers(deps: KedaServiceDeps): ExternalScalerHandlers {
  const { registry, ingest, streams, clock, log } = deps;
  const store = registry.store;
  /** Resolves when the first answer about p's target may be given (at once without a gate). */
  const firstAnswer = (p: PreparedTrigger): Promise<void> =>
    deps.firstReport?.wait(p.target.id, () => evaluate(store, p.target.id, p.trigger, clock()).active) ?? Promise.resolve();

  function unary<Req, Res>(handler: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      handler(call.request).then(
        (response) => callback(null, response),
        (err: unknown) => {
          const status = toGrpcStatus(err);
          log.debug({ code: status.code, details: status.details }, 'rpc failed');
          callback({ code: status.code, details: status.details });
        },
      );
    };
  }

  /** Common shape of both server streams: prepare, pin the target, end cleanly on stop. */
  function serverStream<Res>(
    name: string,
    start: (p: PreparedTrigger, write: (message: Res) => void) => () => void,
  ): grpc.handleServerStreamingCall<ScaledObjectRef__Output, Res> {
    return (call) => {
      let finished = false;
      let stop: (() => void) | undefined;
      let pinned: string | undefined;
      const cleanup = (): void => {
        untrack();
        stop?.();
        stop = undefined;
        if (pinned !== undefined) store.unpin(pinned, clock());
        pinned = undefined;
      };
      const finish = (end: () => void): void => {
        if (finished) return;
        finished = true;
        cleanup();
        end();
      };
      const untrack = streams.add({ end: () => finish(() => call.end()) });
      call.on('cancelled', () => {
        if (!finished) {
          finished = true;
          cleanup();
        }
      });
      if (streams.isClosing) {
        finish(() => call.emit('error', { code: toGrpcStatus(new ScalerError('SHUTTING_DOWN', 'scaler is shutting down')).code, details: 'scaler is shutting down' }));
        return;
      }
      prepareTrigger(call.request, registry, clock(), log).then(
        (p) => {
          if (finished) return;
          store.pin(p.target.id);
          pinned = p.target.id;
          p.log.info({ stream: name, metricName: p.metricName }, 'stream opened');
          stop = start(p, (message) => {
            if (!finished) call.write(message);
          });
        },
        (err: unknown) => {
          const status = toGrpcStatus(err);
          finish(() => call.emit('error', { code: status.code, details: status.details }));
        },
      );
    };
  }

  return {
    GetMetricSpec: unary(async (request: ScaledObjectRef__Output) => metricSpecResponse(await prepareTrigger(request, registry, clock(), log))),

    GetMetrics: unary(async (request) => {
      const p = await prepareTrigger(request.scaledObjectRef, registry, clock(), log);
      if (!requestedMatches(request.metricName, p.metricName)) {
        throw new ScalerError('UNKNOWN_METRIC', `metric "${request.metricName}" is not produced by this trigger; its metric is "${p.metricName}" (from GetMetricSpec)`);
      }
      await firstAnswer(p);
      const { value } = evaluate(store, p.target.id, p.trigger, clock());
      return { metricValues: [{ metricName: p.metricName, metricValue: Math.round(value), metricValueFloat: value }] };
    }),

    IsActive: unary(async (request: ScaledObjectRef__Output): Promise<IsActiveResponse> => {
      const p = await prepareTrigger(request, registry, clock(), log);
      await firstAnswer(p);
      return { result: evaluate(store, p.target.id, p.trigger, clock()).active };
    }),

    StreamIsActive: serverStream<IsActiveResponse>('StreamIsActive', (p, write) => {
      let last: boolean | undefined;
      let timer: NodeJS.Timeout | undefined;
      let ready = false;
      const check = (): void => {
        if (!ready) return;
        const now = clock();
        const e = evaluate(store, p.target.id, p.trigger, now);
        store.touch(p.target.id, now);
        if (e.active !== last) {
          last = e.active;
          write({ result: e.active });
          p.log.debug({ active: e.active, activity: e.activity, inFlight: e.inFlight }, 'activity changed');
        }
        clearTimeout(timer);
        timer = e.nextChangeMs === undefined ? undefined : setTimeout(check, Math.max(0, e.nextChangeMs - now) + TIMER_SLACK_MS);
      };
      const off = ingest.onTargetsUpdated((ids) => {
        if (ids.has(p.target.id)) check();
      });
      let stopped = false;
      void firstAnswer(p).then(() => {
        if (stopped) return;
        ready = true;
        check();
      });
      return () => {
        stopped = true;
        off();
        clearTimeout(timer);
      };
    }),

    StreamMetricSpec: serverStream<GetMetricSpecResponse>('StreamMetricSpec', (p, write) => {
      // The spec depends only on the trigger's metadata, fixed for the life of the stream:
      // sent once, the stream then stays open until KEDA cancels it or the scaler stops.
      write(metricSpecResponse(p));
      return () => undefined;
    }),
  };
}
