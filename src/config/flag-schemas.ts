import { z } from 'zod';
import { logLevels } from '../log.js';
import { splitHostPort } from '../net/address.js';
import { parseDurationMs } from '../scaler/duration.js';
import type { FlagSpec } from './flags.js';

/** Schemas for flag values that several commands share. */

export const hostPortSchema = z
  .string()
  .refine((text) => splitHostPort(text, { allowPortZero: true }) !== undefined, 'expected HOST:PORT, e.g. 0.0.0.0:9090 or [::]:9090');

/** A duration flag ("500ms", "15m", "90s") turned into milliseconds, at least `minMs`. */
export function durationSchema(fallback: string, minMs: number) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined || ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `expected a duration >= ${minMs >= 1000 ? `${minMs / 1000}s` : `${minMs}ms`} such as "${fallback}", got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });
}

export const optionalFileSchema = z.string().min(1).optional();

export function logLevelFlag(fallback: (typeof logLevels)[number], where = '') {
  return {
    name: 'log-level',
    env: 'KEDA_EBPF_LOG_LEVEL',
    valueName: 'LEVEL',
    description: `Log level${where}: ${logLevels.join(', ')}. Default ${fallback}.`,
    schema: z.enum(logLevels).default(fallback),
  } as const satisfies FlagSpec;
}
