import { isIP } from 'node:net';
import { z } from 'zod';
import type { DemandAddress, ReceivedServerSelector, ReceivedWatchTarget } from '../collector/types.js';
import type { WatchTarget } from '../proto/generated/kedaebpf/collector/v1/WatchTarget.js';
import { MAX_HOLD_AT_ZERO_MS } from '../scaler/limits.js';
import { splitHostPort } from './scaler-endpoints.js';

export type { ReceivedServerSelector, ReceivedWatchTarget } from '../collector/types.js';

const portSchema = z.number().int().min(1, 'port must be 1-65535').max(65535, 'port must be 1-65535');

const demandAddressSchema = z.string().transform((text, ctx): DemandAddress => {
  const parsed = splitHostPort(text);
  if (!parsed || isIP(parsed.host) === 0) {
    ctx.addIssue({ code: 'custom', message: `demand address "${text}" is not IP:PORT (IPv6 as [ADDR]:PORT)` });
    return z.NEVER;
  }
  return { ip: parsed.host, port: parsed.port };
});

const serverSelectorSchema = z
  .object({
    port: portSchema,
    netns_path: z.string().default(''),
    pod_namespace: z.string().default(''),
    pod_selector: z.record(z.string(), z.string()).default({}),
  })
  .transform((s): ReceivedServerSelector => {
    const out: { port: number; netnsPath?: string; podNamespace?: string; podSelector?: Record<string, string> } = { port: s.port };
    if (s.netns_path !== '') out.netnsPath = s.netns_path;
    if (s.pod_namespace !== '') out.podNamespace = s.pod_namespace;
    if (Object.keys(s.pod_selector).length > 0) out.podSelector = s.pod_selector;
    return out;
  });

/** The wire WatchTarget (proto-loader output, keepCase) validated and converted. */
export const watchTargetSchema = z
  .object({
    target_id: z.string().min(1, 'target_id must not be empty'),
    servers: z.array(serverSelectorSchema).default([]),
    demand_addresses: z.array(demandAddressSchema).default([]),
    hold_at_zero_ms: z.number().int().min(0).max(MAX_HOLD_AT_ZERO_MS, `hold_at_zero_ms must be <= ${MAX_HOLD_AT_ZERO_MS}`).default(0),
    ready: z.boolean().default(false),
  })
  .transform(
    (t): ReceivedWatchTarget => ({
      targetId: t.target_id,
      servers: t.servers,
      demand: t.demand_addresses,
      ...(t.hold_at_zero_ms > 0 ? { hold: { holdAtZeroMs: t.hold_at_zero_ms, ready: t.ready } } : {}),
    }),
  );

export interface ParsedWatchSet {
  readonly targets: ReceivedWatchTarget[];
  /** One line per rejected target: which one and why. The rest of the set still applies. */
  readonly rejected: string[];
}

/**
 * Converts a received WatchSet's targets (decoded from the wire, or handed over in process);
 * a malformed target is dropped, never the whole set.
 */
export function parseWatchTargets(targets: readonly WatchTarget[]): ParsedWatchSet {
  const out: ReceivedWatchTarget[] = [];
  const rejected: string[] = [];
  for (const [i, raw] of targets.entries()) {
    const result = watchTargetSchema.safeParse(raw);
    if (result.success) {
      out.push(result.data);
    } else {
      const issues = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      rejected.push(`target ${JSON.stringify(raw.target_id ?? `#${i}`)}: ${issues}`);
    }
  }
  return { targets: out, rejected };
}
