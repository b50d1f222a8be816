import type { Command } from '../cli.js';
import { hostPortSchema, logLevelFlag } from '../config/flag-schemas.js';
import { parseFlags, type FlagSpec } from '../config/flags.js';
import { demoFlags, demoOptionsFromArgv } from '../demo/flags.js';
import { runDemo } from '../demo/run-demo.js';
import { ScalerMetricsSource } from '../demo/scaler-metrics-source.js';
import { createLogger } from '../log.js';
import { kernelFlags } from './collector.js';
import { standaloneFlags, startStandalone } from './standalone.js';

const SUMMARY =
  'The whole story on one machine: standalone scaler + collector, a sample HTTP server whose latency grows with load, and a ' +
  'load generator going idle -> first request -> ramp up -> ramp down -> idle, with a live view and a summary. Loopback only; needs root.';

export const demoCommandFlags = [
  ...demoFlags,
  { name: 'listen', env: 'KEDA_EBPF_LISTEN', valueName: 'HOST:PORT', description: 'Where the demo\'s scaler listens (query it with grpcurl meanwhile). Default 127.0.0.1:0 (a free port).', schema: hostPortSchema.default('127.0.0.1:0') },
  ...kernelFlags,
  logLevelFlag('warn', ' (logs go to stderr)'),
] as const satisfies readonly FlagSpec[];

export const demoCommand: Command = {
  summary: SUMMARY,
  flags: demoCommandFlags,
  async run(argv, env) {
    const { values } = parseFlags(demoCommandFlags, argv, env);
    const demoOptions = demoOptionsFromArgv(pickFlagArgs(argv, demoFlags), env);
    // Logs on stderr: stdout is the live view.
    const log = createLogger(values['log-level'], process.stderr);
    // The scaler's own flags at their defaults, but for what the demo sets.
    const standaloneValues = parseFlags(standaloneFlags, ['--listen', values.listen, '--tick', `${values.tick}ms`, '--bpf-object', values['bpf-object'], '--hook-rung', values['hook-rung'], '--log-level', values['log-level']], {}).values;
    const standalone = await startStandalone(standaloneValues, log);
    if (!standalone) return 1;
    const metrics = new ScalerMetricsSource(`127.0.0.1:${standalone.port}`);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const result = await runDemo({ ...demoOptions, metrics, out: process.stdout, isTTY: process.stdout.isTTY === true, log, signal: abort.signal });
      return result.ok ? 0 : 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await metrics.close();
      await standalone.stop();
    }
  },
};

/** The argv entries (with their values) that belong to the given flags. */
function pickFlagArgs(argv: readonly string[], flags: readonly FlagSpec[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const flag = flags.find((f) => arg === `--${f.name}` || arg.startsWith(`--${f.name}=`));
    if (!flag) continue;
    out.push(arg);
    if (!flag.isSwitch && !arg.includes('=') && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}
