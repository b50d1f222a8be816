import http from 'node:http';
import { isLoopbackIp } from '../net/address.js';
import { expectedRequests, offeredRps, type LoadPlan, type PhaseName } from './load-plan.js';

/**
 * Open-loop HTTP load generator for the demo: requests leave at the plan's rate whatever
 * the server does (a closed loop would slow down with the server and hide the queueing),
 * over keep-alive connections from a bounded pool. Loopback targets only.
 */

export interface LoadGeneratorOptions {
  readonly host: string;
  readonly port: number;
  readonly plan: LoadPlan;
  readonly path?: string;
  /** Connections to the server at most (requests beyond wait in the client's pool). */
  readonly maxSockets?: number;
  /** Requests waiting or in flight at most; further arrivals are dropped and counted. */
  readonly maxOutstanding?: number;
  readonly requestTimeoutMs?: number;
  /** Scheduler period: arrivals due since the last tick leave together. */
  readonly tickMs?: number;
  /** Window for the latency figures in snapshot(). */
  readonly latencyWindowMs?: number;
  /** Epoch-like milliseconds; shared with whoever compares timestamps with ours. */
  readonly clock?: () => number;
  readonly onPhase?: (phase: PhaseName, atMs: number) => void;
}

export interface ClientCounters {
  /** Request attempts made (including refused ones). */
  readonly sent: number;
  readonly completed: number;
  /** Connection refused: nothing listened (demand at zero replicas). */
  readonly refused: number;
  /** Other failures (timeouts, resets, non-2xx). */
  readonly errors: number;
  /** Arrivals not sent because maxOutstanding requests were pending. */
  readonly dropped: number;
  readonly outstanding: number;
}

export interface ClientWindowStats {
  readonly windowMs: number;
  /** Completed requests per second over the window. */
  readonly rps: number;
  /** Refused connection attempts per second over the window. */
  readonly refusedRps: number;
  /** Attempts (sent) within the window. */
  readonly attempts: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** Time-averaged requests in flight = sum of latencies / window (Little's law). */
  readonly concurrency: number;
}

export interface LoadSnapshot extends ClientCounters {
  readonly phase: PhaseName | 'not-started' | 'done';
  readonly phaseIndex: number;
  readonly phaseElapsedMs: number;
  readonly offeredRps: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

export interface PhaseRecord {
  readonly name: PhaseName;
  readonly startMs: number;
  endMs: number | undefined;
  sent: number;
}

export interface LoadResult extends ClientCounters {
  readonly phases: readonly PhaseRecord[];
  readonly firstRequestAtMs: number | undefined;
  readonly lastRequestAtMs: number | undefined;
  /** Why the run ended. */
  readonly endedBy: 'plan' | 'stop' | 'max-duration' | 'max-requests';
  /** How the very first request ended and how long it took (held at zero: answered after the SYN retry). */
  readonly firstOutcome?: { readonly outcome: 'ok' | 'refused' | 'error'; readonly ms: number };
}

/** Throws unless `host` is an IP literal in 127.0.0.0/8 or ::1 (the demo's traffic rule). */
export function assertLoopback(host: string): void {
  if (!isLoopbackIp(host)) throw new Error(`load generator refuses target host "${host}": only loopback IP literals (127.0.0.0/8, ::1) are allowed`);
}

export function quantileOfSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

// How long completion records are kept for window queries (the longest window asked for).
const RETAIN_MS = 120_000;

export class LoadGenerator {
  private readonly host: string;
  private readonly port: number;
  private readonly plan: LoadPlan;
  private readonly path: string;
  private readonly maxOutstanding: number;
  private readonly requestTimeoutMs: number;
  private readonly tickMs: number;
  private readonly latencyWindowMs: number;
  private readonly clock: () => number;
  private readonly onPhase: ((phase: PhaseName, atMs: number) => void) | undefined;
  private readonly agent: http.Agent;

  private counters = { sent: 0, completed: 0, refused: 0, errors: 0, dropped: 0, outstanding: 0 };
  // Parallel arrays, oldest first; `head` skips pruned entries without shifting.
  private doneAt: number[] = [];
  private doneLatency: number[] = [];
  private doneHead = 0;
  private attemptAt: number[] = [];
  private refusedAt: number[] = [];
  private attemptHead = 0;
  private refusedHead = 0;

  private readonly phaseLog: PhaseRecord[] = [];
  private phaseIndex = -1;
  private phaseStartMs = 0;
  private runStartMs = 0;
  private sentInPhase = 0;
  private firstRequestAtMs: number | undefined;
  private firstOutcome: { outcome: 'ok' | 'refused' | 'error'; ms: number } | undefined;
  private lastRequestAtMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  private stopRequested = false;
  private endedBy: LoadResult['endedBy'] = 'plan';
  private readonly inflight = new Set<http.ClientRequest>();
  private drained: (() => void) | undefined;

  constructor(options: LoadGeneratorOptions) {
    assertLoopback(options.host);
    this.host = options.host;
    this.port = options.port;
    this.plan = options.plan;
    this.path = options.path ?? '/';
    this.maxOutstanding = options.maxOutstanding ?? 256;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.tickMs = options.tickMs ?? 5;
    this.latencyWindowMs = options.latencyWindowMs ?? 5_000;
    this.clock = options.clock ?? (() => performance.timeOrigin + performance.now());
    this.onPhase = options.onPhase;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  }

  /** Runs the plan; resolves when it ends (plan done, stop(), or a hard bound). */
  run(): Promise<LoadResult> {
    if (this.timer || this.finished) throw new Error('LoadGenerator.run() may be called once');
    this.runStartMs = this.clock();
    return new Promise<LoadResult>((resolve) => {
      const tick = (): void => {
        if (this.step()) return;
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        void this.finish().then(resolve);
      };
      this.timer = setInterval(tick, this.tickMs);
      tick();
    });
  }

  /** Ends the run at the next tick (normally called in the `untilStopped` final phase). */
  stop(): void {
    this.stopRequested = true;
  }

  currentPhase(): PhaseName | 'not-started' | 'done' {
    if (this.finished) return 'done';
    const phase = this.plan.phases[this.phaseIndex];
    return phase ? phase.name : 'not-started';
  }

  phases(): readonly PhaseRecord[] {
    return this.phaseLog;
  }

  firstRequestAt(): number | undefined {
    return this.firstRequestAtMs;
  }

  lastRequestAt(): number | undefined {
    return this.lastRequestAtMs;
  }

  snapshot(nowMs: number = this.clock()): LoadSnapshot {
    const phase = this.plan.phases[this.phaseIndex];
    const elapsed = nowMs - this.phaseStartMs;
    const window = this.windowStats(nowMs, this.latencyWindowMs);
    return {
      ...this.counters,
      phase: this.currentPhase(),
      phaseIndex: this.phaseIndex,
      phaseElapsedMs: phase && !this.finished ? elapsed : 0,
      offeredRps: phase && !this.finished ? offeredRps(phase, elapsed) : 0,
      p50Ms: window.p50Ms,
      p95Ms: window.p95Ms,
      p99Ms: window.p99Ms,
    };
  }

  /** Client-side figures over (nowMs - windowMs, nowMs], defined like the scaler's. */
  windowStats(nowMs: number, windowMs: number): ClientWindowStats {
    const from = nowMs - windowMs;
    const latencies: number[] = [];
    let sum = 0;
    for (let i = this.doneHead; i < this.doneAt.length; i++) {
      const at = this.doneAt[i]!;
      if (at <= from || at > nowMs) continue;
      const lat = this.doneLatency[i]!;
      latencies.push(lat);
      sum += lat;
    }
    latencies.sort((a, b) => a - b);
    const seconds = windowMs / 1000;
    return {
      windowMs,
      rps: latencies.length / seconds,
      refusedRps: countWithin(this.refusedAt, this.refusedHead, from, nowMs) / seconds,
      attempts: countWithin(this.attemptAt, this.attemptHead, from, nowMs),
      p50Ms: quantileOfSorted(latencies, 0.5),
      p95Ms: quantileOfSorted(latencies, 0.95),
      p99Ms: quantileOfSorted(latencies, 0.99),
      concurrency: sum / windowMs,
    };
  }

  /** One scheduler tick; false when the run is over. */
  private step(): boolean {
    const now = this.clock();
    if (now - this.runStartMs >= this.plan.maxDurationMs) {
      this.endedBy = 'max-duration';
      return false;
    }
    if (this.phaseIndex === -1) this.enterPhase(0, now);
    for (;;) {
      const phase = this.plan.phases[this.phaseIndex];
      if (!phase) return false;
      const elapsed = now - this.phaseStartMs;
      if (this.stopRequested) {
        this.endedBy = 'stop';
        this.closePhase(now);
        return false;
      }
      if (elapsed < phase.durationMs) break;
      this.closePhase(this.phaseStartMs + phase.durationMs);
      if (this.phaseIndex + 1 >= this.plan.phases.length) return false;
      this.enterPhase(this.phaseIndex + 1, this.phaseStartMs + phase.durationMs);
    }
    const phase = this.plan.phases[this.phaseIndex]!;
    const due = Math.floor(expectedRequests(phase, now - this.phaseStartMs)) - this.sentInPhase;
    for (let i = 0; i < due; i++) {
      if (this.counters.sent >= this.plan.maxTotalRequests) {
        this.endedBy = 'max-requests';
        return false;
      }
      this.sentInPhase++;
      this.phaseLog[this.phaseLog.length - 1]!.sent++;
      if (this.counters.outstanding >= this.maxOutstanding) {
        this.counters.dropped++;
        continue;
      }
      this.send(now);
    }
    return true;
  }

  private enterPhase(index: number, atMs: number): void {
    this.phaseIndex = index;
    this.phaseStartMs = atMs;
    this.sentInPhase = 0;
    const phase = this.plan.phases[index]!;
    this.phaseLog.push({ name: phase.name, startMs: atMs, endMs: undefined, sent: 0 });
    this.onPhase?.(phase.name, atMs);
  }

  private closePhase(atMs: number): void {
    const record = this.phaseLog[this.phaseLog.length - 1];
    if (record && record.endMs === undefined) record.endMs = atMs;
  }

  private send(now: number): void {
    this.counters.sent++;
    this.counters.outstanding++;
    const isFirst = this.firstRequestAtMs === undefined;
    this.firstRequestAtMs ??= now;
    this.lastRequestAtMs = now;
    this.attemptAt.push(now);
    const start = this.clock();
    let settled = false;
    const settle = (outcome: 'ok' | 'refused' | 'error'): void => {
      if (settled) return;
      settled = true;
      this.inflight.delete(req);
      this.counters.outstanding--;
      const end = this.clock();
      if (isFirst) this.firstOutcome = { outcome, ms: end - start };
      if (outcome === 'ok') {
        this.counters.completed++;
        this.doneAt.push(end);
        this.doneLatency.push(end - start);
      } else if (outcome === 'refused') {
        this.counters.refused++;
        this.refusedAt.push(end);
      } else {
        this.counters.errors++;
      }
      this.prune(end);
      if (this.counters.outstanding === 0) this.drained?.();
    };
    const req = http.request(
      { host: this.host, port: this.port, path: this.path, method: 'GET', agent: this.agent, timeout: this.requestTimeoutMs },
      (res) => {
        const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
        res.resume();
        res.once('end', () => settle(ok ? 'ok' : 'error'));
        res.once('error', () => settle('error'));
      },
    );
    req.once('timeout', () => req.destroy(new Error('request timed out')));
    req.once('error', (err: NodeJS.ErrnoException) => settle(err.code === 'ECONNREFUSED' ? 'refused' : 'error'));
    this.inflight.add(req);
    req.end();
  }

  private prune(now: number): void {
    const cutoff = now - RETAIN_MS;
    while (this.doneHead < this.doneAt.length && this.doneAt[this.doneHead]! < cutoff) this.doneHead++;
    while (this.attemptHead < this.attemptAt.length && this.attemptAt[this.attemptHead]! < cutoff) this.attemptHead++;
    while (this.refusedHead < this.refusedAt.length && this.refusedAt[this.refusedHead]! < cutoff) this.refusedHead++;
    if (this.doneHead > 4096) {
      this.doneAt = this.doneAt.slice(this.doneHead);
      this.doneLatency = this.doneLatency.slice(this.doneHead);
      this.doneHead = 0;
    }
    if (this.attemptHead > 4096) {
      this.attemptAt = this.attemptAt.slice(this.attemptHead);
      this.attemptHead = 0;
    }
  }

  private async finish(): Promise<LoadResult> {
    this.finished = true;
    this.closePhase(this.clock());
    if (this.counters.outstanding > 0) {
      // Let in-flight requests finish (they are bounded by the request timeout), then cut.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.requestTimeoutMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      for (const req of this.inflight) req.destroy();
    }
    this.agent.destroy();
    return {
      ...this.counters,
      phases: this.phaseLog,
      firstRequestAtMs: this.firstRequestAtMs,
      lastRequestAtMs: this.lastRequestAtMs,
      endedBy: this.endedBy,
      ...(this.firstOutcome ? { firstOutcome: this.firstOutcome } : {}),
    };
  }
}

function countWithin(times: readonly number[], head: number, from: number, to: number): number {
  let n = 0;
  for (let i = head; i < times.length; i++) {
    const t = times[i]!;
    if (t > from && t <= to) n++;
  }
  return n;
}
