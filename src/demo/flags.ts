import { z } from 'zod';
import { parseFlags, type FlagSpec } from '../config/flags.js';
import { parseDurationMs } from '../scaler/duration.js';
import type { DemoOptionsInput } from './options.js';

/**
 * The `demo` command's own flags (the command module adds whatever standalone mode needs,
 * e.g. its listen address). Raw strings are parsed here; DemoOptions validates the result.
 */
const number = (what: string) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `must be a number (${what})`)
    .transform(Number)
    .optional();

export const demoFlags = [
  { name: 'short', env: 'DEMO_SHORT', isSwitch: true, description: 'CI variant: the whole story in under a minute.', schema: z.boolean().default(false) },
  { name: 'port', env: 'DEMO_PORT', valueName: 'PORT', description: 'Sample server port on 127.0.0.1 (default: a free port).', schema: number('port') },
  {
    name: 'eager-server',
    isSwitch: true,
    description: 'Start the sample server at once instead of on activation (the first request then succeeds instead of being refused demand).',
    schema: z.boolean().default(false),
  },
  {
    name: 'hold-at-zero',
    valueName: 'DURATION',
    description:
      'Trigger metadata holdAtZero: the first request, sent at zero replicas, is held in the kernel and answered once the server listens (after the SYN retry) instead of refused; 0 = off. Default 10s.',
    schema: z
      .string()
      .transform((t, ctx) => {
        const ms = parseDurationMs(t);
        if (ms === undefined || (ms !== 0 && (ms < 1000 || ms > 120_000))) {
          ctx.addIssue({ code: 'custom', message: `got "${t}", expected a duration from 1s to 2m (e.g. 10s) or 0 for off` });
          return z.NEVER;
        }
        return ms;
      })
      .default(10_000),
  },
  { name: 'latency-target', valueName: 'MS', description: 'HPA target for the latency metric (Value), ms. Default 50.', schema: number('ms') },
  { name: 'quantile', valueName: 'p50|p95|p99', description: 'Latency quantile the HPA line uses. Default p95.', schema: z.enum(['p50', 'p95', 'p99']).optional() },
  { name: 'rps-target', valueName: 'N', description: 'HPA target for rps (AverageValue), req/s per replica. Default 100.', schema: number('req/s') },
  { name: 'concurrency-target', valueName: 'N', description: 'HPA target for concurrency (AverageValue), per replica. Default 4.', schema: number('requests') },
  { name: 'max-replicas', valueName: 'N', description: 'HPA maxReplicas. Default 10.', schema: number('replicas') },
] as const satisfies readonly FlagSpec[];

/** argv -> DemoOptions input (validated by DemoOptions in runDemo). */
export function demoOptionsFromArgv(argv: readonly string[], env: NodeJS.ProcessEnv): DemoOptionsInput {
  const { values } = parseFlags(demoFlags, argv, env);
  const options: DemoOptionsInput = { short: values.short, lazyServer: !values['eager-server'], holdAtZeroMs: values['hold-at-zero'] };
  if (values.port !== undefined) options.serverPort = values.port;
  if (values['latency-target'] !== undefined) options.latencyTargetMs = values['latency-target'];
  if (values.quantile !== undefined) options.latencyQuantile = values.quantile;
  if (values['rps-target'] !== undefined) options.rpsTarget = values['rps-target'];
  if (values['concurrency-target'] !== undefined) options.concurrencyTarget = values['concurrency-target'];
  if (values['max-replicas'] !== undefined) options.maxReplicas = values['max-replicas'];
  return options;
}
