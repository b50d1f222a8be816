/**
 * The hook ladder (DESIGN.md "Hook ladder"): which set of BPF programs times requests on
 * this kernel. A pure function of probed facts and of what was already tried, so every
 * branch is unit-tested with simulated kernels (test/unit/hook-ladder.test.ts);
 * kernel-facts.ts gathers the facts and hook-loader.ts feeds load/attach failures back in
 * as `failed` and asks again.
 */

export const RUNGS = ['tp_btf', 'fentry', 'kprobe'] as const;
export type Rung = (typeof RUNGS)[number];

/**
 * Where a variant keeps per-connection state: `sk_storage` (socket-local storage, freed
 * with the socket) or `hash` (the conn_state_by_sk LRU hash keyed by socket, for kprobes
 * and for tracing programs on kernels before 5.11, which cannot call bpf_sk_storage_get).
 */
export const CONN_STATES = ['sk_storage', 'hash'] as const;
export type ConnState = (typeof CONN_STATES)[number];

/** One way to run a rung: its programs (names in the linked BPF object) and where they keep state. */
export interface RungVariant {
  readonly connState: ConnState;
  readonly programs: readonly string[];
  /** Tried only when `connStates` (LadderAttempts) names its state: never a fallback by itself. */
  readonly onlyWhenForced?: boolean;
}

/** Each rung's variants, in the order they are tried (sk_storage first: no LRU eviction, no hash cost). */
export const RUNG_VARIANTS: Readonly<Record<Rung, readonly RungVariant[]>> = {
  tp_btf: [
    { connState: 'sk_storage', programs: ['rt_arrival_tp_btf', 'rt_send_tp_btf', 'rt_state_tp_btf', 'demand_state_tp_btf'] },
    // Never needed (these tracepoints came after tracing sk_storage): forced, it runs the
    // hash path of 5.10 and kprobes, and framing's hash build, on the kernel at hand.
    { connState: 'hash', programs: ['rt_arrival_tp_btf_hash', 'rt_send_tp_btf_hash', 'rt_state_tp_btf_hash', 'demand_state_tp_btf'], onlyWhenForced: true },
  ],
  fentry: [
    { connState: 'sk_storage', programs: ['rt_arrival_fentry', 'rt_send_fentry', 'rt_state_tp_btf', 'demand_state_tp_btf'] },
    { connState: 'hash', programs: ['rt_arrival_fentry_hash', 'rt_send_fentry_hash', 'rt_state_tp_btf_hash', 'demand_state_tp_btf'] },
  ],
  kprobe: [{ connState: 'hash', programs: ['rt_arrival_kprobe', 'rt_send_kprobe', 'rt_state_tracepoint', 'demand_state_tracepoint'] }],
};

/** A rung's variant keeping state in `connState`; throws when the rung has none. */
export function rungVariant(rung: Rung, connState: ConnState): RungVariant {
  const variant = RUNG_VARIANTS[rung].find((v) => v.connState === connState);
  if (!variant) throw new Error(`hook rung ${rung} has no ${connState} variant`);
  return variant;
}

/** What start-up probing found. Booleans are "present on this kernel". */
export interface HookFacts {
  /** /sys/kernel/btf/vmlinux loads: CO-RE works at all. */
  readonly btf: boolean;
  /** BTF typedefs btf_trace_<name>: the tracepoint exists and tp_btf can attach to it. */
  readonly btfTracepoints: {
    readonly sk_data_ready: boolean;
    readonly sock_send_length: boolean;
    readonly inet_sock_set_state: boolean;
  };
  /** BTF FUNC entries: fentry can name these functions. */
  readonly btfFunctions: {
    readonly sock_def_readable: boolean;
    readonly tcp_sendmsg_locked: boolean;
  };
  /** The kprobe PMU exists (/sys/bus/event_source/devices/kprobe): CONFIG_KPROBES=y. */
  readonly kprobes: boolean;
}

/** A variant that was tried here and failed ("tried and failed: <load/attach error>"). */
export interface VariantFailure {
  readonly rung: Rung;
  readonly connState: ConnState;
  readonly reason: string;
}

/** What the ladder knows beyond the kernel: configuration, the BPF object, earlier attempts. */
export interface LadderAttempts {
  /** Rungs allowed (default all); the others are passed over as "not allowed by configuration". */
  readonly allowed?: readonly Rung[];
  /** Where variants may keep connection state (default both); tests force the hash path with this. */
  readonly connStates?: readonly ConnState[];
  /** Programs in the BPF object (default: assume every variant is there). */
  readonly objectPrograms?: ReadonlySet<string>;
  readonly failed?: readonly VariantFailure[];
}

/** A rung (connState absent: every variant of it) or one variant passed over, and why. */
export interface RungRejection {
  readonly rung: Rung;
  readonly connState?: ConnState;
  readonly reason: string;
}

export type RungChoice =
  | { readonly rung: Rung; readonly variant: RungVariant; readonly reason: string; readonly rejected: readonly RungRejection[] }
  | { readonly rung: undefined; readonly reason: string; readonly rejected: readonly RungRejection[] };

function missing(names: Record<string, boolean>): string[] {
  return Object.entries(names)
    .filter(([, present]) => !present)
    .map(([name]) => name);
}

/** Why the kernel rules a whole rung out, or undefined when it is worth trying. */
function rungProblem(rung: Rung, facts: HookFacts): string | undefined {
  if (!facts.btf) return 'no kernel BTF (/sys/kernel/btf/vmlinux), which CO-RE programs need';
  switch (rung) {
    case 'tp_btf': {
      const absent = missing(facts.btfTracepoints);
      return absent.length ? `tracepoints ${absent.join(', ')} absent (they arrived in kernel 6.3)` : undefined;
    }
    case 'fentry': {
      const absent = missing({ ...facts.btfFunctions, inet_sock_set_state: facts.btfTracepoints.inet_sock_set_state });
      return absent.length ? `no BTF for ${absent.join(', ')}` : undefined;
    }
    case 'kprobe':
      return facts.kprobes ? undefined : 'kprobes are not available (CONFIG_KPROBES off)';
  }
}

/** Why one variant cannot be used, or undefined when it is worth trying. */
function variantProblem(rung: Rung, variant: RungVariant, attempts: LadderAttempts): string | undefined {
  if (attempts.connStates && !attempts.connStates.includes(variant.connState)) return 'not allowed by configuration';
  const failed = attempts.failed?.find((f) => f.rung === rung && f.connState === variant.connState);
  if (failed) return failed.reason;
  const { objectPrograms } = attempts;
  const absent = objectPrograms ? variant.programs.filter((p) => !objectPrograms.has(p)) : [];
  return absent.length ? `not in this BPF object (no program ${absent.join(', ')})` : undefined;
}

const WHY_CHOSEN: Readonly<Record<Rung, string>> = {
  tp_btf: 'BTF tracepoints sk_data_ready, sock_send_length and inet_sock_set_state are present: the cheapest hooks',
  fentry: 'fentry on sock_def_readable and tcp_sendmsg_locked: same timing points as the tracepoints, through trampolines',
  kprobe: 'kprobes on sock_def_readable and tcp_sendmsg_locked: the slowest rung',
};

const WHERE_STATE: Readonly<Record<ConnState, string>> = {
  sk_storage: 'connection state in socket storage',
  hash: 'connection state in an LRU hash keyed by socket',
};

/** "fentry" or "fentry (hash)": how a rejection is named in reasons and errors. */
function rejectionLabel(r: RungRejection): string {
  return r.connState ? `${r.rung} (${r.connState})` : r.rung;
}

export function describeRejections(rejected: readonly RungRejection[]): string {
  return rejected.map((r) => `${rejectionLabel(r)}: ${r.reason}`).join('; ');
}

/**
 * The first usable rung and variant, best first, with why each better rung or variant was
 * passed over. A rung the kernel rules out is one rejection; otherwise each of its variants
 * that failed or is missing from the object is one.
 */
export function chooseRung(facts: HookFacts, attempts: LadderAttempts = {}): RungChoice {
  const rejected: RungRejection[] = [];
  for (const rung of RUNGS) {
    const problem = attempts.allowed && !attempts.allowed.includes(rung) ? 'not allowed by configuration' : rungProblem(rung, facts);
    if (problem !== undefined) {
      rejected.push({ rung, reason: problem });
      continue;
    }
    for (const variant of RUNG_VARIANTS[rung]) {
      if (variant.onlyWhenForced && !attempts.connStates?.includes(variant.connState)) continue;
      const why = variantProblem(rung, variant, attempts);
      if (why !== undefined) {
        rejected.push({ rung, connState: variant.connState, reason: why });
        continue;
      }
      const passed = rejected.length ? ` (passed over: ${describeRejections(rejected)})` : '';
      return { rung, variant, reason: `${WHY_CHOSEN[rung]}, ${WHERE_STATE[variant.connState]}${passed}`, rejected };
    }
  }
  return { rung: undefined, reason: `no usable kernel hook: ${describeRejections(rejected)}`, rejected };
}
