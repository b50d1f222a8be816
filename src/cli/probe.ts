import fs from 'node:fs';
import { z } from 'zod';
import type { Command } from '../cli.js';
import { parseFlags, type FlagSpec } from '../config/flags.js';
import { createLogger, logLevels } from '../log.js';
import { CollectorCore, CollectorUnavailableError, DEFAULT_BPF_OBJECT, missingCapabilitiesSentence } from '../collector/core.js';
import { probeKernelFacts, type KernelFacts } from '../collector/kernel-facts.js';
import { allowedRungs, forcedRungSentence, hookRungFlag } from './hook-rung.js';

const SUMMARY =
  'Check whether the collector can run on this host: print kernel, BTF, capabilities and the chosen hook rung as JSON ' +
  '(loads and attaches the programs, then detaches). Exit 1 with one sentence when it cannot.';

export const probeFlags = [
  { name: 'bpf-object', env: 'KEDA_EBPF_BPF_OBJECT', valueName: 'FILE', description: `Compiled BPF object. Default ${DEFAULT_BPF_OBJECT}.`, schema: z.string().min(1).default(DEFAULT_BPF_OBJECT) },
  { name: 'log-level', env: 'KEDA_EBPF_LOG_LEVEL', valueName: 'LEVEL', description: `Log level (logs go to stderr): ${logLevels.join(', ')}. Default warn.`, schema: z.enum(logLevels).default('warn') },
  hookRungFlag,
] as const satisfies readonly FlagSpec[];

/** What `probe` prints on stdout. */
export interface ProbeReport {
  readonly ok: boolean;
  readonly kernelRelease: string | null;
  readonly libbpfVersion: string | null;
  readonly btf: boolean;
  readonly capabilities: { readonly held: readonly string[]; readonly missing: readonly string[] };
  readonly bpfObject: { readonly path: string; readonly present: boolean };
  readonly hookFacts: KernelFacts['hook'] | null;
  readonly rung: string | null;
  readonly rungReason: string | null;
  /** Where the chosen programs keep per-connection state: sk_storage or hash (an LRU hash keyed by socket). */
  readonly connState: string | null;
  /** Rungs (and variants, with connState) passed over, and why: on failure, every one tried. */
  readonly rejectedRungs: readonly { readonly rung: string; readonly connState?: string; readonly reason: string }[];
  readonly hooksAttached: readonly string[];
  /** What keeps the collector from running here (empty when ok). */
  readonly missing: readonly string[];
  /** One sentence when not ok. */
  readonly error: string | null;
}

export const probeCommand: Command = {
  summary: SUMMARY,
  flags: probeFlags,
  async run(argv, env) {
    const { values } = parseFlags(probeFlags, argv, env);
    const log = createLogger(values['log-level'], process.stderr);
    const objectPath = values['bpf-object'];
    let facts: KernelFacts | undefined;
    let factsError: string | undefined;
    try {
      facts = probeKernelFacts();
    } catch (err) {
      factsError = (err as Error).message;
    }
    const base = {
      kernelRelease: facts?.kernelRelease ?? null,
      libbpfVersion: facts?.libbpfVersion ?? null,
      btf: facts?.hook.btf ?? false,
      capabilities: { held: facts?.capabilities ?? [], missing: facts?.missingCapabilities ?? [] },
      bpfObject: { path: objectPath, present: fs.existsSync(objectPath) },
      hookFacts: facts?.hook ?? null,
    };
    const fail = (error: string, missing: readonly string[], rejectedRungs: ProbeReport['rejectedRungs'] = []): number => {
      const report: ProbeReport = { ok: false, ...base, rung: null, rungReason: null, connState: null, rejectedRungs, hooksAttached: [], missing, error };
      console.log(JSON.stringify(report, null, 2));
      console.error(error);
      return 1;
    };
    if (!facts) return fail(`The collector cannot run here: ${factsError ?? 'probing failed'}.`, ['libbpf1']);
    if (facts.missingCapabilities.length) return fail(missingCapabilitiesSentence(facts.missingCapabilities), facts.missingCapabilities);
    if (!base.bpfObject.present) {
      return fail(`The collector cannot run here: the BPF object ${objectPath} is missing (run \`npm run build:bpf\`).`, ['bpf-object']);
    }
    const rungs = allowedRungs(values['hook-rung']);
    let core: CollectorCore;
    try {
      core = CollectorCore.open({ logger: log, objectPath, ...(rungs ? { rungs } : {}) });
    } catch (err) {
      if (err instanceof CollectorUnavailableError) {
        return fail(err.missing.includes('hook') ? forcedRungSentence(values['hook-rung'], err.message) : err.message, err.missing, err.rejected);
      }
      return fail(`The collector cannot run here: ${(err as Error).message}.`, ['bpf']);
    }
    try {
      const report: ProbeReport = {
        ok: true,
        ...base,
        rung: core.hooks.rung,
        rungReason: core.hooks.reason,
        connState: core.hooks.connState,
        rejectedRungs: core.hooks.rejected,
        hooksAttached: core.hooks.attached,
        missing: [],
        error: null,
      };
      console.log(JSON.stringify(report, null, 2));
      return 0;
    } finally {
      core.close();
    }
  },
};
