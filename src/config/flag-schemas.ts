import { z } from 'zod';
import { logLevels } from '../log.js';
import { splitHostPort } from '../net/address.js';
import { parseDurationMs } from '../scaler/duration.js';
import type { FlagSpec } from './flags.js';

/** Schemas for flag values that several commands share. */

export const hostPortSchema = z
  .string()
  .superRefine((text, ctx) => {
    if (splitHostPort(text, { allowPortZero: true }) !== undefined) return;
    const port = /:(\d+)$/.exec(text)?.[1];
    const outOfRange = port !== undefined && Number(port) > 65535;
    ctx.addIssue({
      code: 'custom',
      message: outOfRange ? `port ${port} in "${text}" is out of range: give a port 0-65535, e.g. 0.0.0.0:9090` : 'expected HOST:PORT, e.g. 0.0.0.0:9090 or [::]:9090',
    });
  });

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1e3, ki: 1024, m: 1e6, mi: 1024 ** 2, g: 1e9, gi: 1024 ** 3 };

/** A byte size flag ("256Ki", "128Mi", "1G", "65536") turned into bytes, within [minBytes, maxBytes]. */
export function byteSizeSchema(fallback: string, minBytes: number, maxBytes: number) {
  return z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const match = /^(\d+(?:\.\d+)?)\s*([kmg]i?)?b?$/i.exec(text.trim());
      const bytes = match ? Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()]!) : NaN;
      if (!(bytes >= minBytes && bytes <= maxBytes)) {
        ctx.addIssue({ code: 'custom', message: `expected a size from ${minBytes} to ${maxBytes} bytes such as "${fallback}" (units Ki, Mi, Gi, k, M, G), got "${text}"` });
        return z.NEVER;
      }
      return bytes;
    });
}

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
