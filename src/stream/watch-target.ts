import { isIP } from 'node:net';
import { z } from 'zod';
import type { DemandAddress } from '../collector/types.js';
import type { WatchTarget__Output } from '../proto/generated/kedaebpf/collector/v1/WatchTarget.js';
import { splitHostPort } from './scaler-endpoints.js';

/**
 * A watch target as a scaler sent it, in plain form. Netns paths and pod selectors are kept
 * as received: turning them into netns inodes is the collector wiring's job (it knows the
 * node), producing src/collector/types.ts WatchEntry.
 */
export interface ReceivedServerSelector {
  readonly port: number;
  /** "/run/netns/NAME" or "/proc/PID/ns/net"; absent = any network namespace. */
  readonly netnsPath?: string;
  /** Kubernetes mode: pods of this namespace matching podSelector. */
  readonly podNamespace?: string;
  readonly podSelector?: Readonly<Record<string, string>>;
}

export interface ReceivedWatchTarget {
  readonly targetId: string;
  readonly servers: readonly ReceivedServerSelector[];
  readonly demand: readonly DemandAddress[];
}

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
  })
  .transform((t): ReceivedWatchTarget => ({ targetId: t.target_id, servers: t.servers, demand: t.demand_addresses }));

export interface ParsedWatchSet {
  readonly targets: ReceivedWatchTarget[];
  /** One line per rejected target: which one and why. The rest of the set still applies. */
  readonly rejected: string[];
}

/** Converts a received WatchSet's targets; a malformed target is dropped, never the whole set. */
export function parseWatchTargets(targets: readonly WatchTarget__Output[]): ParsedWatchSet {
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
