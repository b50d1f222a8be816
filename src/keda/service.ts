import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ScalerError, toGrpcStatus } from '../errors.js';
import type { Ingest } from '../ingest/ingest.js';
import type { ExternalScalerHandlers } from '../proto/generated/externalscaler/ExternalScaler.js';
import type { GetMetricSpecResponse } from '../proto/generated/externalscaler/GetMetricSpecResponse.js';
import type { GetMetricsRequest__Output } from '../proto/generated/externalscaler/GetMetricsRequest.js';
import type { GetMetricsResponse } from '../proto/generated/externalscaler/GetMetricsResponse.js';
import type { IsActiveResponse } from '../proto/generated/externalscaler/IsActiveResponse.js';
import type { ScaledObjectRef__Output } from '../proto/generated/externalscaler/ScaledObjectRef.js';
import { evaluate, evaluateActivity } from '../scaler/evaluate.js';
import type { TargetRegistry } from '../scaler/registry.js';
import { sameMetricName } from '../scaler/target.js';
import type { StreamTracker } from '../server/streams.js';
import type { FirstReportGate } from './first-report-gate.js';
import { ActivityStreams } from './activity-streams.js';
import { prepareTrigger, prepareTriggerNow, type PreparedTrigger } from './trigger.js';

export interface KedaServiceDeps {
  readonly registry: TargetRegistry;
  readonly ingest: Ingest;
  readonly streams: StreamTracker;
  readonly clock: () => number;
  readonly log: Logger;
  /** Holds a target's first activity answer after start-up until collectors reported on it. */
  readonly firstReport?: FirstReportGate;
  /** Shared with whoever wants its stats (the server); made here when not given. */
  readonly activityStreams?: ActivityStreams;
}

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

/**
 * Answers given again and again, frozen so the KEDA port encodes each once (keda/wire-cache.ts):
 * the two IsActive answers, and a trigger's metric spec (fixed by its metadata).
 */
const ACTIVE: IsActiveResponse = Object.freeze({ result: true });
const INACTIVE: IsActiveResponse = Object.freeze({ result: false });
const activeResponse = (active: boolean): IsActiveResponse => (active ? ACTIVE : INACTIVE);
const specResponses = new WeakMap<PreparedTrigger, GetMetricSpecResponse>();

function cachedMetricSpecResponse(p: PreparedTrigger): GetMetricSpecResponse {
  let response = specResponses.get(p);
  if (response === undefined) {
    const spec = metricSpecResponse(p);
    for (const s of spec.metricSpecs ?? []) Object.freeze(s);
    Object.freeze(spec.metricSpecs);
    response = Object.freeze(spec);
    specResponses.set(p, response);
  }
  return response;
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
  const firstAnswer = (p: PreparedTrigger): Promise<void> => firstAnswerIfNeeded(p) ?? Promise.resolve();
  /** firstAnswer, undefined when the answer may be given now (nearly always: no promise then). */
  const firstAnswerIfNeeded = (p: PreparedTrigger): Promise<void> | undefined =>
    deps.firstReport?.waitIfNeeded(p.target.id, () => evaluateActivity(store, p.target.id, p.trigger, clock()).active);
  // One listener for every StreamIsActive: updates are coalesced per target (activity-streams.ts).
  const activityStreams = deps.activityStreams ?? new ActivityStreams(store, clock);
  ingest.onTargetsUpdated((ids) => activityStreams.markDirty(ids));

  /**
   * A unary handler answers synchronously when it can (a cached trigger of a registered
   * target: every poll after the first), else with a promise; both fail the same way.
   */
  function unary<Req, Res>(handler: (request: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    const fail = (callback: grpc.sendUnaryData<Res>, err: unknown): void => {
      const status = toGrpcStatus(err);
      log.debug({ code: status.code, details: status.details }, 'rpc failed');
      callback({ code: status.code, details: status.details });
    };
    return (call, callback) => {
      let result: Res | Promise<Res>;
      try {
        result = handler(call.request);
      } catch (err) {
        fail(callback, err);
        return;
      }
      if (result instanceof Promise) {
        result.then(
          (response) => callback(null, response),
          (err: unknown) => fail(callback, err),
        );
      } else {
        callback(null, result);
      }
    };
  }

  /** `answer(p)` now, or once `pending` (the trigger's preparation, the first-report gate) resolves. */
  function then<P, Res>(pending: P | Promise<P>, answer: (p: P) => Res | Promise<Res>): Res | Promise<Res> {
    return pending instanceof Promise ? pending.then(answer) : answer(pending);
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
    GetMetricSpec: unary((request: ScaledObjectRef__Output) => then(prepareTriggerNow(request, registry, clock(), log), cachedMetricSpecResponse)),

    GetMetrics: unary((request: GetMetricsRequest__Output) =>
      then(prepareTriggerNow(request.scaledObjectRef, registry, clock(), log), (p) => {
        if (!requestedMatches(request.metricName, p.metricName)) {
          throw new ScalerError('UNKNOWN_METRIC', `metric "${request.metricName}" is not produced by this trigger; its metric is "${p.metricName}" (from GetMetricSpec)`);
        }
        return then(firstAnswerIfNeeded(p), (): GetMetricsResponse => {
          const { value } = evaluate(store, p.target.id, p.trigger, clock());
          return { metricValues: [{ metricName: p.metricName, metricValue: Math.round(value), metricValueFloat: value }] };
        });
      }),
    ),

    IsActive: unary((request: ScaledObjectRef__Output) =>
      then(prepareTriggerNow(request, registry, clock(), log), (p) =>
        then(firstAnswerIfNeeded(p), (): IsActiveResponse => activeResponse(evaluateActivity(store, p.target.id, p.trigger, clock()).active)),
      ),
    ),

    StreamIsActive: serverStream<IsActiveResponse>('StreamIsActive', (p, write) => {
      // Subscribed (and so the first message sent) once the first answer may be given.
      let unsubscribe: (() => void) | undefined;
      let stopped = false;
      void firstAnswer(p).then(() => {
        if (stopped) return;
        unsubscribe = activityStreams.subscribe(p.target.id, p.trigger, {
          onChange: (active, detail) => {
            write(activeResponse(active));
            p.log.debug({ active, ...detail }, 'activity changed');
          },
        });
      });
      return () => {
        stopped = true;
        unsubscribe?.();
      };
    }),

    StreamMetricSpec: serverStream<GetMetricSpecResponse>('StreamMetricSpec', (p, write) => {
      // The spec depends only on the trigger's metadata, fixed for the life of the stream:
      // sent once, the stream then stays open until KEDA cancels it or the scaler stops.
      write(cachedMetricSpecResponse(p));
      return () => undefined;
    }),
  };
}
