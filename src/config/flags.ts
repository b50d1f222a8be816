import { z } from 'zod';

/**
 * Command-line flags declared once: name, environment variable, help text and a zod schema
 * (with its default). parseFlags reads argv first, then the environment, validates
 * everything in one go and returns a frozen object; nothing else reads process.env.
 */
export interface FlagSpec {
  /** Long flag name without dashes, e.g. "listen". */
  readonly name: string;
  /** Environment variable that supplies the value when the flag is absent. */
  readonly env?: string;
  readonly description: string;
  /** Schema for the raw string (or boolean for switches); defaults live here. */
  readonly schema: z.ZodType;
  /** A switch takes no value: present = true. */
  readonly isSwitch?: boolean;
  /** May be given several times; values are joined with ",". */
  readonly repeatable?: boolean;
  /** Shown in --help as the value's form, e.g. "HOST:PORT". */
  readonly valueName?: string;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type FlagValues<T extends readonly FlagSpec[]> = {
  readonly [K in T[number] as K['name']]: z.infer<K['schema']>;
};

export function parseFlags<const T extends readonly FlagSpec[]>(
  specs: T,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): { values: FlagValues<T>; positionals: string[] } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const raw = new Map<string, string | boolean>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown flag --${name}`);
    let value: string | boolean;
    if (spec.isSwitch) {
      value = eq === -1 ? true : arg.slice(eq + 1) !== 'false';
    } else if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`flag --${name} needs a value (${spec.valueName ?? 'VALUE'})`);
      value = next;
      i++;
    }
    const previous = raw.get(name);
    if (spec.repeatable && typeof previous === 'string' && typeof value === 'string') {
      raw.set(name, `${previous},${value}`);
    } else {
      raw.set(name, value);
    }
  }
  const input: Record<string, unknown> = {};
  for (const spec of specs) {
    let value: string | boolean | undefined = raw.get(spec.name);
    if (value === undefined && spec.env !== undefined) {
      const fromEnv = env[spec.env];
      if (fromEnv !== undefined && fromEnv !== '') value = spec.isSwitch ? !['0', 'false', 'no'].includes(fromEnv) : fromEnv;
    }
    input[spec.name] = value;
  }
  const shape = Object.fromEntries(specs.map((s) => [s.name, s.schema]));
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '');
      const spec = byName.get(name);
      const from = spec?.env ? ` (or $${spec.env})` : '';
      return `--${name}${from}: ${issue.message}`;
    });
    throw new UsageError(problems.join('; '));
  }
  return { values: Object.freeze(result.data) as FlagValues<T>, positionals };
}

export function formatHelp(command: string, summary: string, specs: readonly FlagSpec[]): string {
  const lines = [`Usage: keda-ebpf-scaler ${command} [flags]`, '', summary, '', 'Flags:'];
  for (const spec of specs) {
    const form = spec.isSwitch ? '' : ` ${spec.valueName ?? 'VALUE'}`;
    const env = spec.env ? `  [env ${spec.env}]` : '';
    lines.push(`  --${spec.name}${form}${env}`);
    lines.push(`      ${spec.description}`);
  }
  lines.push('  --help', '      Show this help.');
  return lines.join('\n');
}
