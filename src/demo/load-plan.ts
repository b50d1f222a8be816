/**
 * The demo's phase plan: what the load generator offers and when. Pure data plus the
 * arithmetic on it (offered rate, expected request count), so tests can check the
 * generator against the plan without timing guesses.
 */

export const PHASE_NAMES = ['idle', 'first-request', 'ramp-up', 'ramp-down', 'final-idle'] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export interface Phase {
  readonly name: PhaseName;
  /** Length of the phase; for `untilStopped` phases the longest it may last. */
  readonly durationMs: number;
  /** Offered rate per equal-length step (requests/s); empty = no traffic. */
  readonly stepsRps: readonly number[];
  /** Exactly one request at the start of the phase, then silence. */
  readonly single?: boolean;
  /** The phase ends when the caller says so (stop()), or after durationMs at the latest. */
  readonly untilStopped?: boolean;
}

export interface LoadPlan {
  readonly phases: readonly Phase[];
  /** Hard bound on requests sent over the whole plan (attempts, including refused). */
  readonly maxTotalRequests: number;
  /** Hard bound on the plan's wall-clock length. */
  readonly maxDurationMs: number;
}

/** The sample server's default capacity: 4 workers / 10 ms. */
export const DEFAULT_CAPACITY_RPS = 400;

// Fractions of the server's nominal capacity: the ramp ends 10 % beyond it (latency climbs
// steeply there; timer overhead already puts the real capacity a little below nominal) and the ramp down ends low enough for every metric to want one replica.
const RAMP_UP_FRACTIONS = [0.125, 0.25, 0.5, 0.75, 1.0, 1.1] as const;
const RAMP_DOWN_FRACTIONS = [0.75, 0.4, 0.15, 0.05] as const;

interface PlanTimes {
  readonly idleMs: number;
  readonly firstRequestMs: number;
  readonly rampUpMs: number;
  readonly rampDownMs: number;
  readonly finalIdleMaxMs: number;
}

// The pause after the first request is shorter than the default activationWindow (equal to
// the metric window: 5 s short, 10 s normal), so the target stays active into the ramp.
const SHORT_TIMES: PlanTimes = { idleMs: 5_000, firstRequestMs: 3_000, rampUpMs: 15_000, rampDownMs: 10_000, finalIdleMaxMs: 20_000 };
const NORMAL_TIMES: PlanTimes = { idleMs: 8_000, firstRequestMs: 6_000, rampUpMs: 30_000, rampDownMs: 30_000, finalIdleMaxMs: 40_000 };

function buildPlan(times: PlanTimes, capacityRps: number): LoadPlan {
  const up = RAMP_UP_FRACTIONS.map((f) => Math.round(f * capacityRps));
  const down = RAMP_DOWN_FRACTIONS.map((f) => Math.max(1, Math.round(f * capacityRps)));
  const phases: Phase[] = [
    { name: 'idle', durationMs: times.idleMs, stepsRps: [] },
    { name: 'first-request', durationMs: times.firstRequestMs, stepsRps: [], single: true },
    { name: 'ramp-up', durationMs: times.rampUpMs, stepsRps: up },
    { name: 'ramp-down', durationMs: times.rampDownMs, stepsRps: down },
    { name: 'final-idle', durationMs: times.finalIdleMaxMs, stepsRps: [], untilStopped: true },
  ];
  const expected = phases.reduce((sum, p) => sum + expectedRequests(p, p.durationMs), 0);
  const total = phases.reduce((sum, p) => sum + p.durationMs, 0);
  // 10 % headroom over the plan's own integral: the bound catches a runaway loop, not the plan.
  return { phases, maxTotalRequests: Math.ceil(expected * 1.1) + 10, maxDurationMs: total + 5_000 };
}

/** About 40 s with a prompt return to inactive, 53 s at most (CI). */
export function shortPlan(capacityRps: number = DEFAULT_CAPACITY_RPS): LoadPlan {
  return buildPlan(SHORT_TIMES, capacityRps);
}

/** About two minutes. */
export function normalPlan(capacityRps: number = DEFAULT_CAPACITY_RPS): LoadPlan {
  return buildPlan(NORMAL_TIMES, capacityRps);
}

/** Same story, faster clock (tests): durations x factor, rates unchanged, bounds rescaled. */
export function scalePlan(plan: LoadPlan, factor: number, rateFactor = 1): LoadPlan {
  if (!(factor > 0) || !(rateFactor > 0)) throw new RangeError('scale factors must be > 0');
  const phases = plan.phases.map((p) => ({
    ...p,
    durationMs: Math.round(p.durationMs * factor),
    stepsRps: p.stepsRps.map((r) => r * rateFactor),
  }));
  const expected = phases.reduce((sum, p) => sum + expectedRequests(p, p.durationMs), 0);
  const total = phases.reduce((sum, p) => sum + p.durationMs, 0);
  return { phases, maxTotalRequests: Math.ceil(expected * 1.1) + 10, maxDurationMs: total + Math.round(5_000 * factor) };
}

/** Offered rate at `elapsedMs` into the phase (0 outside traffic phases). */
export function offeredRps(phase: Phase, elapsedMs: number): number {
  const n = phase.stepsRps.length;
  if (n === 0 || elapsedMs < 0 || elapsedMs >= phase.durationMs) return 0;
  const step = Math.min(n - 1, Math.floor((elapsedMs / phase.durationMs) * n));
  return phase.stepsRps[step]!;
}

/** Requests the phase has asked for by `elapsedMs` (the integral of the step function). */
export function expectedRequests(phase: Phase, elapsedMs: number): number {
  if (phase.single) return elapsedMs >= 0 ? 1 : 0;
  const n = phase.stepsRps.length;
  if (n === 0 || elapsedMs <= 0) return 0;
  const t = Math.min(elapsedMs, phase.durationMs);
  const stepMs = phase.durationMs / n;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const start = i * stepMs;
    if (t <= start) break;
    total += (phase.stepsRps[i]! * (Math.min(t, start + stepMs) - start)) / 1000;
  }
  return total;
}

export function planDurationMs(plan: LoadPlan): number {
  return plan.phases.reduce((sum, p) => sum + p.durationMs, 0);
}
