#!/usr/bin/env node
import { UsageError, formatHelp, type FlagSpec } from './config/flags.js';

/** A subcommand: parses its own flags (argv after the command name) and returns an exit code. */
export interface Command {
  readonly summary: string;
  /** Its flags: `--help` prints them (the dispatcher handles it, so it works without required flags). */
  readonly flags: readonly FlagSpec[];
  /** The usage line's command part when it takes positionals, e.g. "query isactive|spec". */
  readonly usage?: string;
  run(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number>;
}

// Loaded lazily so that `probe` never pays for gRPC and `query` never for libbpf.
const commands: Record<string, () => Promise<Command>> = {
  scaler: async () => (await import('./cli/scaler.js')).scalerCommand,
  probe: async () => (await import('./cli/probe.js')).probeCommand,
  collector: async () => (await import('./cli/collector.js')).collectorCommand,
  standalone: async () => (await import('./cli/standalone.js')).standaloneCommand,
  query: async () => (await import('./cli/query.js')).queryCommand,
  demo: async () => (await import('./cli/demo.js')).demoCommand,
};

const descriptions: Record<string, string> = {
  scaler: 'the gRPC service KEDA calls, fed by collectors',
  probe: 'can the collector run on this host? (JSON)',
  collector: 'the node agent: eBPF programs + stream to every scaler',
  standalone: 'scaler and collector in one process, no Kubernetes',
  query: 'call the KEDA RPCs as KEDA does, print JSON',
  demo: 'the whole story on this machine in about two minutes',
};

function usage(): string {
  return [
    'Usage: keda-ebpf-scaler <command> [flags]',
    '',
    'Commands:',
    ...Object.keys(commands).map((name) => `  ${name.padEnd(11)} ${descriptions[name] ?? ''}`),
    '',
    'Run `keda-ebpf-scaler <command> --help` for the flags of each command.',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`keda-ebpf-scaler: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(formatHelp(command.usage ?? name, command.summary, command.flags));
    return 0;
  }
  try {
    return await command.run(rest, process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`keda-ebpf-scaler ${name}: ${err.message}\nRun \`keda-ebpf-scaler ${name} --help\` for the accepted flags.`);
      return 2;
    }
    throw err;
  }
}

/** Stack traces only for `--log-level debug` (or trace); everyone else reads one sentence. */
function wantsStack(argv: readonly string[]): boolean {
  const i = argv.indexOf('--log-level');
  const level = i !== -1 ? argv[i + 1] : (argv.find((a) => a.startsWith('--log-level='))?.slice('--log-level='.length) ?? process.env['KEDA_EBPF_LOG_LEVEL']);
  return level === 'debug' || level === 'trace';
}

/**
 * Once the command returned, nothing may keep the process: a request to an API server that
 * never answers must not delay exit (attack 10). The timer is unref'd, so it only fires when
 * something else still holds the event loop.
 */
const EXIT_DRAIN_MS = 2000;

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_DRAIN_MS).unref();
  },
  (err: unknown) => {
    const argv = process.argv.slice(2);
    const message = err instanceof Error ? err.message : String(err);
    console.error(wantsStack(argv) && err instanceof Error ? (err.stack ?? message) : `keda-ebpf-scaler ${argv[0] ?? ''}: ${message}`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), EXIT_DRAIN_MS).unref();
  },
);
