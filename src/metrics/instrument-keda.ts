import * as grpc from '@grpc/grpc-js';
import type { ExternalScalerHandlers } from '../proto/generated/externalscaler/ExternalScaler.js';
import type { GetMetricsResponse } from '../proto/generated/externalscaler/GetMetricsResponse.js';
import type { IsActiveResponse } from '../proto/generated/externalscaler/IsActiveResponse.js';
import type { ScaledObjectRef__Output } from '../proto/generated/externalscaler/ScaledObjectRef.js';
import type { ScalerMetrics } from './scaler-metrics.js';
import { setNewest } from '../bounded-map.js';

/**
 * Wraps the ExternalScaler handlers to count and time every RPC by method and status code,
 * count open streams, and record what KEDA was told per target. The handlers themselves
 * stay unaware of metrics.
 */

const codeName = (code: number | undefined): string => grpc.status[code ?? grpc.status.OK] ?? String(code);

function scaledObject(ref: ScaledObjectRef__Output | null | undefined): string {
  return `${ref?.namespace ?? ''}/${ref?.name ?? ''}`;
}

/** The target a ref's trigger observes (same pure id the registry uses); undefined when invalid. */
export type TargetOf = (ref: ScaledObjectRef__Output | null | undefined) => string | undefined;

/** "ebpf-latency-p95-<id>" -> { id, metric: "latency-p95" }. */
function parseMetricName(name: string): { id: string; metric: string } | undefined {
  const m = /^ebpf-(.+)-([0-9a-f]{12})$/.exec(name.toLowerCase());
  return m ? { id: m[2]!, metric: m[1]! } : undefined;
}

/** Names already split: GetMetrics answers carry the same few names over and over. Bounded (oldest out first). */
const splitNames = new Map<string, { id: string; metric: string } | undefined>();
const MAX_SPLIT_NAMES = 4096;

function splitMetricName(name: string): { id: string; metric: string } | undefined {
  let parts = splitNames.get(name);
  if (parts === undefined && !splitNames.has(name)) {
    parts = parseMetricName(name);
    setNewest(splitNames, name, parts, MAX_SPLIT_NAMES);
  }
  return parts;
}

function unary<Req, Res>(method: string, metrics: ScalerMetrics, handler: grpc.handleUnaryCall<Req, Res>, told: (req: Req, res: Res) => void): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    // performance.now(): monotonic like hrtime, without two BigInts per call.
    const started = performance.now();
    handler(call, (err, value, ...rest) => {
      metrics.rpcDone(method, codeName(err ? (err.code ?? grpc.status.UNKNOWN) : grpc.status.OK), (performance.now() - started) / 1000);
      if (!err && value) told(call.request, value);
      callback(err, value, ...rest);
    });
  };
}

function serverStream<Req, Res>(method: string, metrics: ScalerMetrics, handler: grpc.handleServerStreamingCall<Req, Res>, told: (req: Req, res: Res) => void): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    metrics.streamOpened(method);
    let ended = false;
    const end = (code: string): void => {
      if (ended) return;
      ended = true;
      metrics.streamClosed(method);
      metrics.rpcDone(method, code);
    };
    call.once('finish', () => end('OK'));
    call.once('cancelled', () => end('CANCELLED'));
    const emit = call.emit.bind(call);
    // The handlers end a stream with an error by emitting it (grpc-js sends it as the status).
    call.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event === 'error') end(codeName((args[0] as { code?: number } | undefined)?.code ?? grpc.status.UNKNOWN));
      return emit(event, ...args);
    }) as typeof call.emit;
    const write = call.write.bind(call);
    call.write = ((chunk: Res, ...rest: unknown[]) => {
      told(call.request, chunk);
      return (write as (chunk: Res, ...rest: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof call.write;
    handler(call);
  };
}

export function instrumentExternalScaler(handlers: ExternalScalerHandlers, metrics: ScalerMetrics, targetOf: TargetOf): ExternalScalerHandlers {
  const answers = metrics.answers;
  const toldActive = (ref: ScaledObjectRef__Output, res: IsActiveResponse): void => {
    const id = targetOf(ref);
    if (id !== undefined) answers.active(id, scaledObject(ref), res.result === true);
  };
  const toldValue = (ref: ScaledObjectRef__Output | null, res: GetMetricsResponse): void => {
    for (const v of res.metricValues ?? []) {
      const parsed = splitMetricName(v.metricName ?? '');
      if (parsed) answers.value(parsed.id, scaledObject(ref), parsed.metric, Number(v.metricValueFloat ?? 0));
    }
  };
  return {
    GetMetricSpec: unary('GetMetricSpec', metrics, handlers.GetMetricSpec, () => undefined),
    GetMetrics: unary('GetMetrics', metrics, handlers.GetMetrics, (req, res) => toldValue(req.scaledObjectRef, res)),
    IsActive: unary('IsActive', metrics, handlers.IsActive, toldActive),
    StreamIsActive: serverStream('StreamIsActive', metrics, handlers.StreamIsActive, toldActive),
    StreamMetricSpec: serverStream('StreamMetricSpec', metrics, handlers.StreamMetricSpec, () => undefined),
  };
}
