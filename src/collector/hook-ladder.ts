/**
 * The hook ladder (DESIGN.md "Hook ladder"): which set of BPF programs times requests on
 * this kernel. A pure function of probed facts, so every branch is unit-tested with
 * simulated kernels (test/unit/hook-ladder.test.ts); kernel-facts.ts gathers the facts
 * and core.ts feeds load/attach failures back in as `failed` and asks again.
 */

export const RUNGS = ['tp_btf', 'fentry', 'kprobe'] as const;
export type Rung = (typeof RUNGS)[number];

/** Programs (names in the linked BPF object) each rung loads and attaches. */
export const RUNG_PROGRAMS: Readonly<Record<Rung, readonly string[]>> = {
  tp_btf: ['rt_arrival_tp_btf', 'rt_send_tp_btf', 'rt_state_tp_btf', 'demand_state_tp_btf'],
  fentry: ['rt_arrival_fentry', 'rt_send_fentry', 'rt_state_tp_btf', 'demand_state_tp_btf'],
  kprobe: ['rt_arrival_kprobe', 'rt_send_kprobe', 'rt_state_tracepoint', 'demand_state_tracepoint'],
};


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
  /** Rungs ruled out at run time, with why ("tried and failed: <load/attach error>", configuration). */
  readonly failed: Readonly<Partial<Record<Rung, string>>>;
}

export interface RungRejection {
  readonly rung: Rung;
  readonly reason: string;
}

export type RungChoice =
  | { readonly rung: Rung; readonly programs: readonly string[]; readonly reason: string; readonly rejected: readonly RungRejection[] }
  | { readonly rung: undefined; readonly reason: string; readonly rejected: readonly RungRejection[] };

function missing(names: Record<string, boolean>): string[] {
  return Object.entries(names)
    .filter(([, present]) => !present)
    .map(([name]) => name);
}

/** Why a rung cannot be used, or undefined when it is worth trying. */
function rungProblem(rung: Rung, facts: HookFacts): string | undefined {
  const failed = facts.failed[rung];
  if (failed !== undefined) return failed;
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

const WHY_CHOSEN: Readonly<Record<Rung, string>> = {
  tp_btf: 'BTF tracepoints sk_data_ready, sock_send_length and inet_sock_set_state are present: the cheapest hooks',
  fentry: 'fentry on sock_def_readable and tcp_sendmsg_locked: same timing points as the tracepoints, through trampolines',
  kprobe: 'kprobes on sock_def_readable and tcp_sendmsg_locked: the slowest rung, connection state in an LRU hash',
};

/** The first usable rung, best first, with why each better rung was passed over. */
export function chooseRung(facts: HookFacts): RungChoice {
  const rejected: RungRejection[] = [];
  for (const rung of RUNGS) {
    const problem = rungProblem(rung, facts);
    if (problem === undefined) {
      const passed = rejected.length ? ` (passed over: ${rejected.map((r) => `${r.rung}: ${r.reason}`).join('; ')})` : '';
      return { rung, programs: RUNG_PROGRAMS[rung], reason: `${WHY_CHOSEN[rung]}${passed}`, rejected };
    }
    rejected.push({ rung, reason: problem });
  }
  return {
    rung: undefined,
    reason: `no usable kernel hook: ${rejected.map((r) => `${r.rung}: ${r.reason}`).join('; ')}`,
    rejected,
  };
}
