import type { Logger } from 'pino';
import { ScalerError } from '../errors.js';
import { AuthFailure, type CollectorIdentity } from './auth/identity.js';
import type { WatchSet } from '../proto/generated/kedaebpf/collector/v1/WatchSet.js';
import type { Welcome } from '../proto/generated/kedaebpf/collector/v1/Welcome.js';
import { MAX_REMEMBERED_COLLECTORS, MAX_SEQUENCE_STEP } from '../scaler/limits.js';
import type { TargetHold } from '../scaler/hold-state.js';
import { checkTargetDelta } from './delta-check.js';
import { reportHeaderSurelyValid } from './report-header-check.js';
import type { TargetRegistry } from '../scaler/registry.js';
import type { WindowDelta } from '../scaler/window-store.js';
import type { SparseBuckets } from '../histogram/histogram.js';
import { DEFAULT_PLAUSIBILITY, implausibility, type PlausibilityLimits } from './plausibility.js';
import { StreamClock } from './report-time.js';
import { setNewest } from '../bounded-map.js';
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
  /** Rejections by reason (the first zod issue's path, or "unknown-target", "report", "implausible-rate", "duplicate-target"). */
  rejectedByReason: Record<string, number>;
  /** Peers refused on the ingest port, by reason ("missing-credentials", "token-rejected", "wrong-audience", ...). */
  authFailures: Record<string, number>;
  /** Collector streams disconnected because they left the scaler's writes unread (bounded send queue). */
  slowReadersDisconnected: number;
  /** Well-formed deltas refused as implausible (rate over --ingest-max-rate, in-flight over --ingest-max-in-flight, a target twice in one report). */
  deltasImplausible: number;
  /** A collector's sequence went far backwards (a reset or a corrupt number): its numbering restarted there. */
  sequenceResets: number;
  /** Reports placed at arrival because the collector's wall clock disagreed (collectors without monotonic times). */
  clockSkewCorrected: number;
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
  /** Default DEFAULT_PLAUSIBILITY. */
  readonly plausibility?: PlausibilityLimits;
  /** The wall clock, used only to place reports of collectors that send no monotonic times. Default: `clock`. */
  readonly wallClock?: () => number;
}

/** WatchTarget fields of holdAtZero (proto/collector.proto 4-5). */
function holdFields(hold: TargetHold): { hold_at_zero_ms: number; ready: boolean } {
  return { hold_at_zero_ms: hold.holdAtZeroMs, ready: hold.ready };
}

/** One warn line per rejected report, but at most one per collector per this many ms. */
const REJECT_LOG_INTERVAL_MS = 10_000;
/** What a report that passed the header pre-check stands for (zod would have said so). */
const HEADER_VALID = { success: true } as const;

/** A WindowDelta whose fields (and bucket lists) are written in place for each merged delta. */
type RefillableDelta = {
  -readonly [K in keyof Required<WindowDelta>]: K extends 'buckets' ? { -readonly [B in keyof SparseBuckets]: SparseBuckets[B] } : Required<WindowDelta>[K];
};

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
    authFailures: {},
    slowReadersDisconnected: 0,
    deltasImplausible: 0,
    sequenceResets: 0,
    clockSkewCorrected: 0,
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
  private readonly plausibility: PlausibilityLimits;
  private watchSetCache: WatchSet | undefined;
  /**
   * The WindowDelta handed to the store for every merged delta, refilled each time: the store
   * copies what it keeps, so 50,000 deltas a second need no two objects each.
   */
  private readonly windowDelta: RefillableDelta = {
    requests: 0,
    latencySumUs: 0,
    acceptedConnections: 0,
    demandAttempts: 0,
    demandRefused: 0,
    listenDrops: 0,
    buckets: { indices: [], counts: [] },
  };

  constructor(private readonly options: IngestOptions) {
    this.reportHeader = reportSchema(options.registry.store.maxTargets);
    this.registry = options.registry;
    this.clock = options.clock;
    this.log = options.log;
    this.plausibility = options.plausibility ?? DEFAULT_PLAUSIBILITY;
  }

  /** Collectors with an open session: stats().collectorsConnected without copying every counter. */
  get collectorsConnected(): number {
    return this.counters.collectorsConnected;
  }

  stats(): IngestStats {
    return { ...this.counters, rejectedByReason: { ...this.counters.rejectedByReason }, authFailures: { ...this.counters.authFailures } };
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

  countAuthFailure(reason: string): void {
    this.counters.authFailures[reason] = (this.counters.authFailures[reason] ?? 0) + 1;
  }

  countSlowReader(): void {
    this.counters.slowReadersDisconnected++;
  }

  /** One object per generation, shared by every stream (not one copy per collector). */
  watchSet(): WatchSet {
    if (this.watchSetCache?.generation !== this.registry.generation) this.watchSetCache = this.buildWatchSet();
    return this.watchSetCache;
  }

  private buildWatchSet(): WatchSet {
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

  /**
   * Hello -> session, for a peer that proved `identity` (the gRPC shell authenticates; the
   * in-process collector of standalone mode is trusted). The node comes from the identity
   * when it is bound to one: a Hello naming another node is refused. Throws ScalerError
   * (PROTOCOL_VERSION, PROTOCOL_VIOLATION, COLLECTOR_FORBIDDEN).
   */
  openSession(hello: HelloInput, identity: CollectorIdentity = { method: 'in-process', principal: 'in-process' }): IngestSession {
    const parsed = helloSchema.safeParse(hello);
    if (!parsed.success) throw new ScalerError('PROTOCOL_VIOLATION', `bad Hello: ${describeIssue(parsed.error)}`);
    const h = parsed.data;
    if (h.protocol_version !== SUPPORTED_PROTOCOL_VERSION) {
      throw new ScalerError('PROTOCOL_VERSION', `collector speaks protocol version ${h.protocol_version}; this scaler speaks ${SUPPORTED_PROTOCOL_VERSION}`);
    }
    if (identity.nodeName !== undefined && h.node_name !== '' && h.node_name !== identity.nodeName) {
      throw new AuthFailure('node-mismatch', `collector authenticated for node "${identity.nodeName}" may not speak for node "${h.node_name}"`);
    }
    const nodeName = identity.nodeName ?? (h.node_name || h.collector_id);
    // Sequences, gauges and restarts are kept per (node, collector_id): a collector can name
    // any collector_id, but only within its own node, so it cannot wedge or wipe another's.
    const sourceId = `${nodeName}/${h.collector_id}`;
    const log = this.log.child({ collectorId: h.collector_id, node: nodeName, auth: identity.method, principal: identity.principal });
    const previous = this.nodeCollector.get(nodeName);
    if (previous !== undefined && previous !== sourceId) {
      // Restart: the old process's gauges are meaningless now; its deltas stay (they happened),
      // and the new one starts from zero, so the window shows a gap rather than a spike.
      this.counters.collectorRestarts++;
      this.registry.store.forgetSource(previous);
      this.lastSequence.delete(previous);
      log.info({ previousCollectorId: previous }, 'collector restarted: gap in its data');
    }
    setNewest(this.nodeCollector, nodeName, sourceId, MAX_REMEMBERED_COLLECTORS);
    const welcome: Welcome = {
      protocol_version: SUPPORTED_PROTOCOL_VERSION,
      scaler_id: this.options.scalerId,
      last_sequence: this.lastSequence.get(sourceId) ?? 0,
    };
    this.counters.collectorsConnected++;
    log.info({ version: h.version, hookRung: h.hook_rung, capabilities: h.capabilities, lastSequence: welcome.last_sequence }, 'collector connected');
    return this.session(h.collector_id, sourceId, nodeName, welcome, new StreamClock(h.monotonic_ms ?? 0, this.clock()), log);
  }

  private session(collectorId: string, sourceId: string, nodeName: string, welcome: Welcome, streamClock: StreamClock, log: Logger): IngestSession {
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
      report: (report) => this.observed(report, this.merge(sourceId, report, reject, streamClock, log)),
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
        this.registry.store.forgetSource(sourceId);
        this.registry.holds.forgetSource(sourceId);
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

  /**
   * What a report's sequence means for a source: "new" (merge it), "duplicate" (a resend of
   * one already merged: skip), or "reset" (far below the last one: the collector's numbering
   * restarted, or the last one was corrupt, e.g. 2^53-1; merge it and continue from here, so
   * no sequence can wedge a collector into "every later report is a duplicate").
   */
  private classifySequence(sourceId: string, sequence: number): 'new' | 'duplicate' | 'reset' {
    const last = this.lastSequence.get(sourceId) ?? 0;
    if (sequence > last) return 'new';
    return last - sequence <= MAX_SEQUENCE_STEP ? 'duplicate' : 'reset';
  }

  /** Records the sequence as the source's latest (LRU-bounded) and counts skipped ones. */
  private advanceSequence(sourceId: string, sequence: number): void {
    const last = this.lastSequence.get(sourceId) ?? 0;
    if (sequence > last && last > 0 && sequence > last + 1) this.counters.sequenceGaps += Math.min(sequence - last - 1, MAX_SEQUENCE_STEP);
    setNewest(this.lastSequence, sourceId, sequence, MAX_REMEMBERED_COLLECTORS);
  }

  private merge(sourceId: string, report: ReportInput, reject: (problem: string) => void, streamClock: StreamClock, log: Logger): ReportOutcome {
    const store = this.registry.store;
    // zod (the source of truth) only for a report the hand-written pre-check does not pass.
    const header = reportHeaderSurelyValid(report, store.maxTargets) ? HEADER_VALID : this.reportHeader.safeParse(report);
    if (!header.success) {
      const problem = describeIssue(header.error);
      // A rejected report was still received: it is not a gap, and resending it cannot help.
      if (Number.isSafeInteger(report.sequence) && report.sequence > 0 && this.classifySequence(sourceId, report.sequence) !== 'duplicate') this.advanceSequence(sourceId, report.sequence);
      this.counters.reportsRejected++;
      this.countReject(`report.${String(header.error.issues[0]?.path[0] ?? 'invalid')}`);
      reject(problem);
      return { accepted: false, duplicate: false, deltasAccepted: 0, deltasRejected: report.targets?.length ?? 0, deltasUnknownTarget: 0, problem };
    }
    const kind = this.classifySequence(sourceId, report.sequence);
    if (kind === 'duplicate') {
      this.counters.reportsDuplicate++;
      return { accepted: true, duplicate: true, deltasAccepted: 0, deltasRejected: 0, deltasUnknownTarget: 0 };
    }
    if (kind === 'reset') {
      this.counters.sequenceResets++;
      log.warn({ sequence: report.sequence, last: this.lastSequence.get(sourceId) }, 'collector sequence went far backwards: numbering restarts here');
    }
    this.advanceSequence(sourceId, report.sequence);

    const now = this.clock();
    const placed = streamClock.place(report, now, (this.options.wallClock ?? this.clock)());
    if (placed.skewMs !== undefined) {
      this.counters.clockSkewCorrected++;
      reject(`collector wall clock is ${Math.round(placed.skewMs / 1000)} s off the scaler's and it sends no monotonic times: report placed at arrival`);
    }
    const at = placed.atMs;
    const seen = new Set<string>();
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
      if (seen.has(checked.delta.target_id)) {
        // One target twice in one report would multiply its counts past every per-delta bound.
        this.countReject('duplicate-target');
        this.counters.deltasImplausible++;
        rejected++;
        firstProblem ??= `target ${checked.delta.target_id}: appears more than once in one report`;
        continue;
      }
      seen.add(checked.delta.target_id);
      const implausible = implausibility(checked.delta, report.interval_ms, this.plausibility);
      if (implausible) {
        this.countReject(implausible[0]);
        this.counters.deltasImplausible++;
        rejected++;
        firstProblem ??= `target ${checked.delta.target_id}: ${implausible[1]}`;
        continue;
      }
      if (!store.has(checked.delta.target_id)) {
        // Another replica's target, one that expired here, or our WatchSet is still in flight.
        this.countReject('unknown-target');
        unknown++;
        continue;
      }
      const d = checked.delta;
      const w = this.windowDelta;
      w.requests = d.requests;
      w.latencySumUs = d.latency_sum_us;
      w.acceptedConnections = d.accepted_connections;
      w.demandAttempts = d.demand_attempts;
      w.demandRefused = d.demand_refused;
      w.listenDrops = (d.listen_syn_drops ?? 0) + (d.listen_ack_drops ?? 0);
      w.buckets.indices = d.bucket_index;
      w.buckets.counts = d.bucket_count;
      store.record(d.target_id, w, at, now, report.interval_ms);
      store.setInFlight(d.target_id, sourceId, d.in_flight, now);
      this.registry.holds.reportListeners(d.target_id, sourceId, d.listeners ?? 0);
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
