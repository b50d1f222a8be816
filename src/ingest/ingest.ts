import type { Logger } from 'pino';
import { ScalerError } from '../errors.js';
import type { WatchSet } from '../proto/generated/kedaebpf/collector/v1/WatchSet.js';
import type { Welcome } from '../proto/generated/kedaebpf/collector/v1/Welcome.js';
import { MAX_REMEMBERED_COLLECTORS } from '../scaler/limits.js';
import type { TargetHold } from '../scaler/hold-state.js';
import { checkTargetDelta } from './delta-check.js';
import type { TargetRegistry } from '../scaler/registry.js';
import {
  SUPPORTED_PROTOCOL_VERSION,
  describeIssue,
  helloSchema,
  reportSchema,
  type HelloInput,
  type ReportInput,
} from './schema.js';

/**
 * The scaler side of the collector protocol, without gRPC: sessions (one per connected
 * collector stream), report validation and merging into the window store, sequence
 * bookkeeping for Welcome.last_sequence, restart gaps, and the WatchSet. The gRPC shell
 * (service.ts) and an in-process collector (standalone mode) both drive it.
 */

export interface IngestStats {
  collectorsConnected: number;
  reportsAccepted: number;
  reportsRejected: number;
  /** Reports whose sequence was already merged (a resend after reconnect): skipped. */
  reportsDuplicate: number;
  /** Reports missing between two received sequences of one collector. */
  sequenceGaps: number;
  /** Collector restarts seen (a node's collector_id changed): windows show a gap there. */
  collectorRestarts: number;
  deltasAccepted: number;
  /** Malformed target deltas (the report counts as rejected). */
  deltasRejected: number;
  /**
   * Well-formed deltas for targets this replica does not know: dropped and counted, but not
   * an error (collectors send every target to every replica; a target another replica asked
   * for, or one that expired here a moment ago, is normal). Also in rejectedByReason.
   */
  deltasUnknownTarget: number;
  /** Rejections by reason (the first zod issue's path, or "unknown-target", "report"). */
  rejectedByReason: Record<string, number>;
}

export interface ReportOutcome {
  readonly accepted: boolean;
  readonly duplicate: boolean;
  readonly deltasAccepted: number;
  readonly deltasRejected: number;
  /** Well-formed deltas for targets this replica does not know (dropped, not an error). */
  readonly deltasUnknownTarget: number;
  /** Why the report or its first rejected delta was refused. */
  readonly problem?: string;
}

export interface IngestSession {
  readonly collectorId: string;
  readonly nodeName: string;
  readonly welcome: Welcome;
  /** Validates and merges one report (deltas). Never throws for bad data: see the outcome. */
  report(report: ReportInput): ReportOutcome;
  /** The current watch set (send after Welcome). */
  watchSet(): WatchSet;
  /** Called with a new watch set whenever the registry's targets change. */
  onWatchSet(listener: (watchSet: WatchSet) => void): () => void;
  close(): void;
}

export interface IngestOptions {
  readonly registry: TargetRegistry;
  readonly clock: () => number;
  readonly scalerId: string;
  readonly log: Logger;
}

/** WatchTarget fields of holdAtZero (proto/collector.proto 4-5). */
function holdFields(hold: TargetHold): { hold_at_zero_ms: number; ready: boolean } {
  return { hold_at_zero_ms: hold.holdAtZeroMs, ready: hold.ready };
}

/** One warn line per rejected report, but at most one per collector per this many ms. */
const REJECT_LOG_INTERVAL_MS = 10_000;

export class Ingest {
  private readonly counters: IngestStats = {
    collectorsConnected: 0,
    reportsAccepted: 0,
    reportsRejected: 0,
    reportsDuplicate: 0,
    sequenceGaps: 0,
    collectorRestarts: 0,
    deltasAccepted: 0,
    deltasRejected: 0,
    deltasUnknownTarget: 0,
    rejectedByReason: {},
  };
  /** collector_id -> highest merged sequence; Map order = LRU order. */
  private readonly lastSequence = new Map<string, number>();
  /** node_name -> its current collector_id, to notice restarts. */
  private readonly nodeCollector = new Map<string, string>();
  private readonly updateListeners = new Set<(ids: ReadonlySet<string>) => void>();
  private readonly reportListeners = new Set<(report: ReportInput, outcome: ReportOutcome) => void>();
  private readonly registry: TargetRegistry;
  private readonly clock: () => number;
  private readonly log: Logger;
  /** A report may name at most as many targets as this scaler can track. */
  private readonly reportHeader: ReturnType<typeof reportSchema>;

  constructor(private readonly options: IngestOptions) {
    this.reportHeader = reportSchema(options.registry.store.maxTargets);
    this.registry = options.registry;
    this.clock = options.clock;
    this.log = options.log;
  }

  stats(): IngestStats {
    return { ...this.counters, rejectedByReason: { ...this.counters.rejectedByReason } };
  }

  /** Listeners learn which targets got new data, right after it entered the store. */
  onTargetsUpdated(listener: (ids: ReadonlySet<string>) => void): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  /** Listeners see every report a session received and what became of it (metrics). */
  onReport(listener: (report: ReportInput, outcome: ReportOutcome) => void): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  watchSet(): WatchSet {
    return {
      generation: this.registry.generation,
      targets: this.registry.list().map((t) => ({
        target_id: t.id,
        servers: t.resolved.servers.map((s) => ({
          port: s.port,
          netns_path: s.netnsPath,
          pod_namespace: s.podNamespace,
          pod_selector: { ...s.podSelector },
        })),
        demand_addresses: [...t.resolved.demandAddresses],
        ...holdFields(this.registry.holds.get(t.id)),
      })),
    };
  }

  /** Hello -> session. Throws ScalerError (PROTOCOL_VERSION, PROTOCOL_VIOLATION). */
  openSession(hello: HelloInput): IngestSession {
    const parsed = helloSchema.safeParse(hello);
    if (!parsed.success) throw new ScalerError('PROTOCOL_VIOLATION', `bad Hello: ${describeIssue(parsed.error)}`);
    const h = parsed.data;
    if (h.protocol_version !== SUPPORTED_PROTOCOL_VERSION) {
      throw new ScalerError('PROTOCOL_VERSION', `collector speaks protocol version ${h.protocol_version}; this scaler speaks ${SUPPORTED_PROTOCOL_VERSION}`);
    }
    const nodeName = h.node_name || h.collector_id;
    const log = this.log.child({ collectorId: h.collector_id, node: nodeName });
    const previous = this.nodeCollector.get(nodeName);
    if (previous !== undefined && previous !== h.collector_id) {
      // Restart: the old process's gauges are meaningless now; its deltas stay (they happened),
      // and the new one starts from zero, so the window shows a gap rather than a spike.
      this.counters.collectorRestarts++;
      this.registry.store.forgetSource(previous);
      this.lastSequence.delete(previous);
      log.info({ previousCollectorId: previous }, 'collector restarted: gap in its data');
    }
    this.nodeCollector.delete(nodeName);
    this.nodeCollector.set(nodeName, h.collector_id);
    if (this.nodeCollector.size > MAX_REMEMBERED_COLLECTORS) this.nodeCollector.delete(this.nodeCollector.keys().next().value!);
    const welcome: Welcome = {
      protocol_version: SUPPORTED_PROTOCOL_VERSION,
      scaler_id: this.options.scalerId,
      last_sequence: this.lastSequence.get(h.collector_id) ?? 0,
    };
    this.counters.collectorsConnected++;
    log.info({ version: h.version, hookRung: h.hook_rung, capabilities: h.capabilities, lastSequence: welcome.last_sequence }, 'collector connected');
    return this.session(h.collector_id, nodeName, welcome, log);
  }

  private session(collectorId: string, nodeName: string, welcome: Welcome, log: Logger): IngestSession {
    const unsubscribes: (() => void)[] = [];
    let closed = false;
    let lastRejectLogMs = -Infinity;
    let suppressedRejects = 0;
    const reject = (problem: string): void => {
      const now = this.clock();
      if (now - lastRejectLogMs >= REJECT_LOG_INTERVAL_MS) {
        log.warn({ problem, suppressedSinceLastLine: suppressedRejects, stats: this.stats() }, 'collector report rejected');
        lastRejectLogMs = now;
        suppressedRejects = 0;
      } else {
        suppressedRejects++;
        log.debug({ problem }, 'collector report rejected');
      }
    };
    return {
      collectorId,
      nodeName,
      welcome,
      report: (report) => this.observed(report, this.merge(collectorId, report, reject)),
      watchSet: () => this.watchSet(),
      onWatchSet: (listener) => {
        const off = this.registry.onChange(() => listener(this.watchSet()));
        unsubscribes.push(off);
        return off;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.counters.collectorsConnected--;
        this.registry.store.forgetSource(collectorId);
        this.registry.holds.forgetSource(collectorId);
        for (const off of unsubscribes) off();
        log.info('collector disconnected');
      },
    };
  }

  private observed(report: ReportInput, outcome: ReportOutcome): ReportOutcome {
    for (const listener of this.reportListeners) listener(report, outcome);
    return outcome;
  }

  private countReject(reason: string): void {
    this.counters.rejectedByReason[reason] = (this.counters.rejectedByReason[reason] ?? 0) + 1;
  }

  /** Records the highest sequence seen from a collector (LRU-bounded) and counts skipped ones. */
  private advanceSequence(collectorId: string, sequence: number): void {
    const last = this.lastSequence.get(collectorId) ?? 0;
    if (sequence <= last) return;
    if (last > 0 && sequence > last + 1) this.counters.sequenceGaps += sequence - last - 1;
    this.lastSequence.delete(collectorId);
    this.lastSequence.set(collectorId, sequence);
    if (this.lastSequence.size > MAX_REMEMBERED_COLLECTORS) this.lastSequence.delete(this.lastSequence.keys().next().value!);
  }

  private merge(collectorId: string, report: ReportInput, reject: (problem: string) => void): ReportOutcome {
    const store = this.registry.store;
    const header = this.reportHeader.safeParse(report);
    if (!header.success) {
      const problem = describeIssue(header.error);
      // A rejected report was still received: it is not a gap, and resending it cannot help.
      if (Number.isSafeInteger(report.sequence) && report.sequence > 0) this.advanceSequence(collectorId, report.sequence);
      this.counters.reportsRejected++;
      this.countReject(`report.${String(header.error.issues[0]?.path[0] ?? 'invalid')}`);
      reject(problem);
      return { accepted: false, duplicate: false, deltasAccepted: 0, deltasRejected: report.targets?.length ?? 0, deltasUnknownTarget: 0, problem };
    }
    const last = this.lastSequence.get(collectorId) ?? 0;
    if (report.sequence <= last) {
      this.counters.reportsDuplicate++;
      return { accepted: true, duplicate: true, deltasAccepted: 0, deltasRejected: 0, deltasUnknownTarget: 0 };
    }
    this.advanceSequence(collectorId, report.sequence);

    const now = this.clock();
    const at = report.end_unix_ms > 0 ? report.end_unix_ms : now;
    const updated = new Set<string>();
    let accepted = 0;
    let rejected = 0;
    let unknown = 0;
    let firstProblem: string | undefined;
    for (const raw of report.targets) {
      const checked = checkTargetDelta(raw);
      if (!checked.ok) {
        this.countReject(checked.field);
        rejected++;
        firstProblem ??= `target ${String(raw?.target_id ?? '?')}: ${checked.problem}`;
        continue;
      }
      if (!store.has(checked.delta.target_id)) {
        // Another replica's target, one that expired here, or our WatchSet is still in flight.
        this.countReject('unknown-target');
        unknown++;
        continue;
      }
      const d = checked.delta;
      store.record(
        d.target_id,
        {
          requests: d.requests,
          latencySumUs: d.latency_sum_us,
          acceptedConnections: d.accepted_connections,
          demandAttempts: d.demand_attempts,
          demandRefused: d.demand_refused,
          buckets: { indices: d.bucket_index, counts: d.bucket_count },
        },
        at,
        now,
        report.interval_ms,
      );
      store.setInFlight(d.target_id, collectorId, d.in_flight, now);
      this.registry.holds.reportListeners(d.target_id, collectorId, d.listeners ?? 0);
      updated.add(d.target_id);
      accepted++;
    }
    this.counters.deltasAccepted += accepted;
    this.counters.deltasRejected += rejected;
    this.counters.deltasUnknownTarget += unknown;
    if (rejected > 0) {
      this.counters.reportsRejected++;
      reject(`${rejected} of ${report.targets.length} target deltas rejected; first: ${firstProblem ?? '?'}`);
    } else {
      this.counters.reportsAccepted++;
    }
    if (updated.size > 0) for (const listener of this.updateListeners) listener(updated);
    return {
      accepted: rejected === 0,
      duplicate: false,
      deltasAccepted: accepted,
      deltasRejected: rejected,
      deltasUnknownTarget: unknown,
      ...(firstProblem !== undefined ? { problem: firstProblem } : {}),
    };
  }
}
