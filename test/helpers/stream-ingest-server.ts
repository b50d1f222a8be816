import * as grpc from '@grpc/grpc-js';
import type { CollectorMessage__Output } from '../../src/proto/generated/kedaebpf/collector/v1/CollectorMessage.js';
import type { Hello__Output } from '../../src/proto/generated/kedaebpf/collector/v1/Hello.js';
import type { Report__Output } from '../../src/proto/generated/kedaebpf/collector/v1/Report.js';
import type { ScalerMessage } from '../../src/proto/generated/kedaebpf/collector/v1/ScalerMessage.js';
import type { WatchTarget } from '../../src/proto/generated/kedaebpf/collector/v1/WatchTarget.js';
import { loadCollector } from '../../src/proto/load.js';

/**
 * A small real CollectorIngest server for stream tests ("recording ingest server"): it
 * answers Hello with Welcome, records every message per stream, can push WatchSets, and
 * answers Welcome.last_sequence either from a fixed number or from what it has merged
 * itself for that collector_id (like a real scaler).
 */
export interface RecordedStream {
  readonly hello: Hello__Output;
  readonly reports: Report__Output[];
  ended: boolean;
  readonly call: grpc.ServerDuplexStream<CollectorMessage__Output, ScalerMessage>;
}

export interface RecordingServerOptions {
  readonly host?: string;
  /** 0 = pick a free port. */
  readonly port?: number;
  /** Fixed Welcome.last_sequence; default: the highest sequence this instance received from the collector_id. */
  readonly lastSequence?: number;
  /** Sent right after Welcome on every new stream. */
  readonly watchTargets?: WatchTarget[];
  readonly scalerId?: string;
  /** Record Hello but never answer Welcome (a hung scaler). */
  readonly noWelcome?: boolean;
}

export class RecordingIngestServer {
  readonly streams: RecordedStream[] = [];
  private watchTargets: WatchTarget[] | undefined;
  private generation = 0;
  private lastSequenceOverride: number | undefined;
  private noWelcome = false;

  private constructor(
    private readonly server: grpc.Server,
    readonly host: string,
    readonly port: number,
    options: RecordingServerOptions,
  ) {
    this.watchTargets = options.watchTargets;
    this.lastSequenceOverride = options.lastSequence;
  }

  static async start(options: RecordingServerOptions = {}): Promise<RecordingIngestServer> {
    const host = options.host ?? '127.0.0.1';
    const server = new grpc.Server();
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
    });
    const recorder = new RecordingIngestServer(server, host, bound, options);
    recorder.noWelcome = options.noWelcome ?? false;
    const scalerId = options.scalerId ?? `recording-${host}:${bound}`;
    server.addService(loadCollector().kedaebpf.collector.v1.CollectorIngest.service, {
      Connect: (call: grpc.ServerDuplexStream<CollectorMessage__Output, ScalerMessage>) => recorder.onConnect(call, scalerId),
    });
    return recorder;
  }

  /** "host:port" as the collector's --scaler flag takes it. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Every report of every stream, in arrival order. */
  get reports(): Report__Output[] {
    return this.streams.flatMap((s) => s.reports);
  }

  get sequences(): number[] {
    return this.reports.map((r) => r.sequence);
  }

  setLastSequence(value: number | undefined): void {
    this.lastSequenceOverride = value;
  }

  /** Replaces the watch set and pushes it to every open stream. */
  pushWatchSet(targets: WatchTarget[]): void {
    this.watchTargets = targets;
    for (const s of this.streams) if (!s.ended) this.writeWatchSet(s.call);
  }

  /** Ends every open stream with a status (default UNAVAILABLE) while the server keeps running. */
  breakStreams(code: grpc.status = grpc.status.UNAVAILABLE): void {
    for (const s of this.streams) {
      if (s.ended) continue;
      s.call.emit('error', { code, details: 'stream broken by the test' });
    }
  }

  /** Abrupt stop: open streams fail with UNAVAILABLE/CANCELLED, like a killed scaler. */
  stop(): void {
    this.server.forceShutdown();
  }

  private onConnect(call: grpc.ServerDuplexStream<CollectorMessage__Output, ScalerMessage>, scalerId: string): void {
    let stream: RecordedStream | undefined;
    call.on('data', (message: CollectorMessage__Output) => {
      if (message.hello) {
        const hello = message.hello;
        const merged = this.reports.filter((r) => this.helloOf(r) === hello.collector_id).reduce((max, r) => Math.max(max, r.sequence), 0);
        stream = { hello, reports: [], ended: false, call };
        this.streams.push(stream);
        if (this.noWelcome) return;
        call.write({ welcome: { protocol_version: 1, scaler_id: scalerId, last_sequence: this.lastSequenceOverride ?? merged } });
        if (this.watchTargets) this.writeWatchSet(call);
      } else if (message.report && stream) {
        stream.reports.push(message.report);
      }
    });
    call.on('end', () => {
      if (stream) stream.ended = true;
      call.end();
    });
    call.on('error', () => {
      if (stream) stream.ended = true;
    });
  }

  private helloOf(report: Report__Output): string | undefined {
    return this.streams.find((s) => s.reports.includes(report))?.hello.collector_id;
  }

  private writeWatchSet(call: grpc.ServerDuplexStream<CollectorMessage__Output, ScalerMessage>): void {
    this.generation++;
    call.write({ watch_set: { generation: this.generation, targets: this.watchTargets ?? [] } });
  }
}

/** Polls until `predicate` holds; throws with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
