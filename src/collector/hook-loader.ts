import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { MAP_NAMES } from '../bpf/abi.js';
import { BpfError, ENOENT } from '../bpf/errors.js';
import { BpfObject } from '../bpf/object.js';
import {
  RUNGS,
  RUNG_VARIANTS,
  chooseRung,
  describeRejections,
  rungVariant,
  type ConnState,
  type Rung,
  type RungRejection,
  type RungVariant,
  type VariantFailure,
} from './hook-ladder.js';
import { probeKernelFacts, type KernelFacts } from './kernel-facts.js';

/** build/bpf/scaler.bpf.o at the package root, from src/collector or dist/collector. */
export const DEFAULT_BPF_OBJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/bpf/scaler.bpf.o');

/** The collector cannot run on this host; `message` is one sentence saying what is missing. */
export class CollectorUnavailableError extends Error {
  override readonly name = 'CollectorUnavailableError';
  /** When no hook could be used: every rung and variant passed over, and why. */
  readonly rejected: readonly RungRejection[];
  constructor(
    message: string,
    readonly missing: readonly string[],
    options?: { cause?: unknown; rejected?: readonly RungRejection[] },
  ) {
    super(message, options);
    this.rejected = options?.rejected ?? [];
  }
}

export interface HookReport {
  readonly rung: Rung;
  /** Where the attached programs keep per-connection state. */
  readonly connState: ConnState;
  readonly reason: string;
  readonly attached: readonly string[];
  /** Better rungs and variants passed over, and why (absent hooks or programs, failed load/attach). */
  readonly rejected: readonly RungRejection[];
  readonly kernel: KernelFacts;
}

export interface LoadHooksOptions {
  readonly logger: Logger;
  readonly objectPath?: string;
  /** Rungs allowed, best first (default all): `--hook-rung` and tests force a rung with this. */
  readonly rungs?: readonly Rung[];
  /**
   * Programs loaded with the chosen variant when they pass the verifier, attached by their
   * owner (holdAtZero, src/collector/hold.ts); where they fail, the variant loads without them.
   */
  readonly optionalPrograms?: readonly string[];
  /**
   * Smaller sets tried in order when optionalPrograms fail the verifier (e.g. holdAtZero
   * alone where a newer optional program does not load), before loading without any.
   */
  readonly optionalFallbacks?: readonly (readonly string[])[];
}

export interface LoadedHooks {
  /** Loaded and attached; its owner closes it (which detaches). */
  readonly object: BpfObject;
  readonly report: HookReport;
  /** Whether optionalPrograms loaded (false when they failed or none were asked for). */
  readonly optionalLoaded: boolean;
  /** The optional programs that loaded: optionalPrograms, one of optionalFallbacks, or none. */
  readonly optionalPrograms: readonly string[];
}

/** The sentence for missing capabilities (also what `probe` prints). */
export function missingCapabilitiesSentence(missing: readonly string[]): string {
  return (
    `The collector cannot run here: this process lacks ${missing.join(' and ')} ` +
    `(grant CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN; the DaemonSet also grants CAP_NET_ADMIN and CAP_SYS_RESOURCE).`
  );
}

function probeHost(): KernelFacts {
  let kernel: KernelFacts;
  try {
    kernel = probeKernelFacts();
  } catch (err) {
    throw new CollectorUnavailableError(`The collector cannot run here: ${(err as Error).message}.`, ['libbpf1'], { cause: err });
  }
  if (kernel.missingCapabilities.length) {
    throw new CollectorUnavailableError(missingCapabilitiesSentence(kernel.missingCapabilities), kernel.missingCapabilities);
  }
  if (!kernel.hook.btf) {
    throw new CollectorUnavailableError(
      'The collector cannot run here: the kernel has no BTF (/sys/kernel/btf/vmlinux; build it with CONFIG_DEBUG_INFO_BTF=y).',
      ['BTF'],
    );
  }
  return kernel;
}

/** Names of the programs in the object file (opened, not loaded). */
function programsIn(objectPath: string): Set<string> {
  let object: BpfObject;
  try {
    object = BpfObject.open(objectPath);
  } catch (err) {
    throw new CollectorUnavailableError(`The collector cannot run here: ${(err as Error).message} (run \`npm run build:bpf\`).`, ['bpf-object'], {
      cause: err,
    });
  }
  try {
    return new Set(object.programNames());
  } finally {
    object.close();
  }
}

/** Before load: only the variant's programs load; the LRU hash is shrunk when sk_storage holds the state. */
function configure(object: BpfObject, variant: RungVariant, optional: readonly string[] = []): void {
  const present = new Set(object.programNames());
  for (const program of [...variant.programs, ...optional]) {
    if (!present.has(program)) throw new BpfError('configure', `program ${program} (not in ${object.path})`, ENOENT);
  }
  object.loadOnly([...variant.programs, ...optional]);
  if (variant.connState === 'sk_storage') object.setMaxEntries(MAP_NAMES.connStateBySk, 1);
}

/**
 * Probes the host, then walks the hook ladder: loads and attaches the best rung's first
 * variant, and on a load or attach failure records why and tries the next variant, then
 * the next rung. Throws CollectorUnavailableError (one sentence) when nothing can run here:
 * missing capabilities, no BTF, no BPF object, no usable hook.
 */
export function loadHooks(options: LoadHooksOptions): LoadedHooks {
  const log = options.logger.child({ component: 'hook-loader' });
  const objectPath = options.objectPath ?? DEFAULT_BPF_OBJECT;
  const kernel = probeHost();
  const objectPrograms = programsIn(objectPath);
  const allowed = options.rungs ?? RUNGS;
  const failed: VariantFailure[] = [];
  for (;;) {
    const choice = chooseRung(kernel.hook, { allowed, objectPrograms, failed });
    if (choice.rung === undefined) throw new CollectorUnavailableError(noHookSentence(allowed, choice.rejected), ['hook'], { rejected: choice.rejected });
    const { rung, variant } = choice;
    let object = BpfObject.open(objectPath);
    try {
      const candidates = [options.optionalPrograms ?? [], ...(options.optionalFallbacks ?? []), []].filter((set, i, all) => set.length > 0 || i === all.length - 1);
      let optional: readonly string[] = [];
      for (const [i, set] of candidates.entries()) {
        try {
          configure(object, variant, set);
          object.load();
          optional = set;
          break;
        } catch (err) {
          if (set.length === 0 || !(err instanceof BpfError)) throw err;
          log.warn({ rung, programs: set, err: err.message, libbpfLog: err.libbpfLog }, `this variant did not load with these optional programs; retrying it with ${candidates[i + 1]!.length ? 'fewer' : 'none'}`);
          object.close();
          object = BpfObject.open(objectPath);
        }
      }
      const optionalLoaded = optional.length > 0;
      for (const program of variant.programs) object.attach(program);
      const report: HookReport = { rung, connState: variant.connState, reason: choice.reason, attached: object.attachedPrograms, rejected: choice.rejected, kernel };
      log.info({ rung, connState: variant.connState, reason: report.reason, attached: report.attached }, 'kernel hooks attached');
      return { object, report, optionalLoaded, optionalPrograms: optional };
    } catch (err) {
      object.close();
      if (!(err instanceof BpfError)) throw err;
      log.warn({ rung, connState: variant.connState, err: err.message, libbpfLog: err.libbpfLog }, 'hook rung variant failed, trying the next');
      failed.push({ rung, connState: variant.connState, reason: `tried and failed: ${err.message}` });
    }
  }
}

function noHookSentence(allowed: readonly Rung[], rejected: readonly RungRejection[]): string {
  if (allowed.length === RUNGS.length) return `The collector cannot run here: no usable kernel hook: ${describeRejections(rejected)}.`;
  const own = rejected.filter((r) => allowed.includes(r.rung));
  const rungs = allowed.join(', ');
  return `The collector cannot run here: hook rung ${rungs} cannot load on this kernel: ${describeRejections(own)}.`;
}

/**
 * Loads one rung variant's programs through the verifier without attaching (rungs that
 * cannot attach here can still be checked). Returns the programs; throws BpfError with
 * the verifier's verdict in its message and libbpfLog.
 */
export function verifyRung(rung: Rung, objectPath: string = DEFAULT_BPF_OBJECT, connState: ConnState = RUNG_VARIANTS[rung][0]!.connState): readonly string[] {
  const variant = rungVariant(rung, connState);
  const object = BpfObject.open(objectPath);
  try {
    configure(object, variant);
    object.load();
    return variant.programs;
  } finally {
    object.close();
  }
}
