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
  /** Where the chosen variant may keep connection state (default either): tests force the hash path with this. */
  readonly connStates?: readonly ConnState[];
  /**
   * Program groups loaded with the chosen variant when they pass the verifier, attached by
   * their owners (holdAtZero, src/collector/hold.ts; protocol framing, framing.ts). Where
   * the variant does not load with them, the last group is left out and the load retried,
   * until it loads or no group is left.
   */
  readonly optionalGroups?: readonly OptionalGroup[];
}

/** Programs that load beside the hook ladder's when they can. */
export interface OptionalGroup {
  readonly name: string;
  readonly programs: readonly string[];
  /** Loads only beside variants keeping connection state there (another group of the same name may serve the other). */
  readonly onlyWith?: ConnState;
  /** Tried in this group's place when the variant does not load with it (e.g. a build for older kernels). */
  readonly fallback?: OptionalGroup;
  /** Maps only this group uses: shrunk to one entry when the group is left out (no idle kernel memory). */
  readonly ownMaps?: readonly string[];
}

export interface LoadedHooks {
  /** Loaded and attached; its owner closes it (which detaches). */
  readonly object: BpfObject;
  readonly report: HookReport;
  /** The optional groups that loaded (a fallback in its group's place), by name. */
  readonly optionalLoaded: ReadonlyMap<string, OptionalGroup>;
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
    const choice = chooseRung(kernel.hook, { allowed, connStates: options.connStates, objectPrograms, failed });
    if (choice.rung === undefined) throw new CollectorUnavailableError(noHookSentence(allowed, choice.rejected), ['hook'], { rejected: choice.rejected });
    const { rung, variant } = choice;
    const offered = options.optionalGroups ?? [];
    let groups = offered.filter((g) => g.onlyWith === undefined || g.onlyWith === variant.connState);
    for (const g of offered) {
      if (!groups.includes(g) && !groups.some((other) => other.name === g.name)) {
        log.warn({ rung, group: g.name }, `${g.name} programs left out: none of them runs beside a variant keeping connection state in ${variant.connState}`);
      }
    }
    let object = BpfObject.open(objectPath);
    try {
      for (;;) {
        try {
          configure(object, variant, groups.flatMap((g) => g.programs));
          const kept = new Set(groups.flatMap((g) => g.ownMaps ?? []));
          for (const left of offered.filter((g) => !groups.includes(g))) {
            for (const map of left.ownMaps ?? []) if (!kept.has(map)) shrinkIfPresent(object, map);
          }
          object.load();
          break;
        } catch (err) {
          if (!groups.length || !(err instanceof BpfError)) throw err;
          const dropped = groups[groups.length - 1]!;
          const instead = dropped.fallback ? `; retrying it with ${dropped.fallback.programs.join(', ')} instead` : '; retrying it without them';
          log.warn({ rung, group: dropped.name, programs: dropped.programs, err: err.message, libbpfLog: err.libbpfLog }, `this variant did not load with the ${dropped.name} programs${instead}`);
          groups = [...groups.slice(0, -1), ...(dropped.fallback ? [dropped.fallback] : [])];
          object.close();
          object = BpfObject.open(objectPath);
        }
      }
      const optionalLoaded = new Map(groups.map((g) => [g.name, g]));
      for (const program of variant.programs) object.attach(program);
      const report: HookReport = { rung, connState: variant.connState, reason: choice.reason, attached: object.attachedPrograms, rejected: choice.rejected, kernel };
      log.info({ rung, connState: variant.connState, reason: report.reason, attached: report.attached }, 'kernel hooks attached');
      return { object, report, optionalLoaded };
    } catch (err) {
      object.close();
      if (!(err instanceof BpfError)) throw err;
      log.warn({ rung, connState: variant.connState, err: err.message, libbpfLog: err.libbpfLog }, 'hook rung variant failed, trying the next');
      failed.push({ rung, connState: variant.connState, reason: `tried and failed: ${err.message}` });
    }
  }
}

/** An object built without a group has no maps of it either: nothing to shrink then. */
function shrinkIfPresent(object: BpfObject, map: string): void {
  try {
    object.setMaxEntries(map, 1);
  } catch (err) {
    if (!(err instanceof BpfError && err.errno === ENOENT)) throw err;
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
