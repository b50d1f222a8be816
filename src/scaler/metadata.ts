import { z } from 'zod';
import { ScalerError } from '../errors.js';
import { formatHostPort, ipFamily, parsePort as parseNetPort, splitHostPort } from '../net/address.js';
import { formatDurationMs, parseDurationMs } from './duration.js';
import { resolveFromEnvKeys } from './metadata-from-env.js';
import {
  MAX_DEMAND_ADDRESSES_PER_TRIGGER,
  MAX_HOLD_AT_ZERO_MS,
  MAX_PORTS_PER_TRIGGER,
  MAX_TARGET_VALUE,
  MIN_HOLD_AT_ZERO_MS,
  MAX_WINDOW_MS,
  MIN_TARGET_VALUE,
  MIN_WINDOW_MS,
} from './limits.js';

/**
 * Trigger metadata (the ScaledObject trigger's `metadata` map) declared once as a zod
 * schema: each key with its default and the accepted form quoted in its error message.
 * Unknown keys (KEDA sends `scalerAddress`, users may add their own) are ignored.
 */

export const metricKinds = ['latency', 'rps', 'concurrency'] as const;
export type MetricKind = (typeof metricKinds)[number];

/** The accepted form of every key, as users read it in errors and in the README table. */
export const acceptedForms = {
  service: 'a Kubernetes Service name (DNS-1035 label, e.g. "web")',
  servicePort: 'a Service port name or number 1-65535',
  port: `a comma list of TCP ports 1-65535 (at most ${MAX_PORTS_PER_TRIGGER}), e.g. "8080" or "80,443"`,
  netns: 'an absolute path to a network namespace, e.g. "/run/netns/web" or "/proc/1234/ns/net"',
  demandAddress: `a comma list of ip:port (IPv6 as [addr]:port, at most ${MAX_DEMAND_ADDRESSES_PER_TRIGGER}), e.g. "10.96.0.10:80,[fd00::1]:80"`,
  metric: 'one of latency, rps, concurrency',
  quantile: 'a number strictly between 0 and 1, e.g. "0.95"',
  targetValue: `a number from ${MIN_TARGET_VALUE} to ${MAX_TARGET_VALUE} (ms for latency, req/s or concurrent requests per replica)`,
  window: `a duration of whole seconds from ${formatDurationMs(MIN_WINDOW_MS)} to ${formatDurationMs(MAX_WINDOW_MS)}, e.g. "30s" or "2m"`,
  activationRequests: 'an integer >= 1',
  activationWindow: `a duration of whole seconds from ${formatDurationMs(MIN_WINDOW_MS)} to ${formatDurationMs(MAX_WINDOW_MS)}, e.g. "60s"`,
  holdAtZero: `a duration from ${formatDurationMs(MIN_HOLD_AT_ZERO_MS)} to ${formatDurationMs(MAX_HOLD_AT_ZERO_MS)}, e.g. "30s" (how long a first connection waits for a ready replica), or "0" for off`,
} as const;

export type MetadataKey = keyof typeof acceptedForms;

export const metadataDefaults = {
  metric: 'latency',
  quantile: 0.95,
  window: '30s',
  activationRequests: 1,
  activationWindow: '60s',
} as const;

function fail(ctx: z.RefinementCtx, key: MetadataKey, got: string): typeof z.NEVER {
  ctx.addIssue({ code: 'custom', message: `got "${got}", expected ${acceptedForms[key]}` });
  return z.NEVER;
}

/** An optional string key; empty or whitespace-only values count as absent. */
function key<T>(name: MetadataKey, parse: (text: string) => T | undefined) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): T | undefined => {
      const text = raw?.trim();
      if (text === undefined || text === '') return undefined;
      const value = parse(text);
      return value === undefined ? fail(ctx, name, text) : value;
    });
}

const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

const parsePort = (text: string): number | undefined => parseNetPort(text);

function parseList<T>(text: string, max: number, item: (part: string) => T | undefined): T[] | undefined {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length > max || parts.some((p) => p === '')) return undefined;
  const items: T[] = [];
  for (const part of parts) {
    const value = item(part);
    if (value === undefined) return undefined;
    items.push(value);
  }
  return items;
}

/** "ip:port" / "[v6]:port" -> canonical text (IPv6 lower-case, bracketed). */
export function parseDemandAddress(text: string): string | undefined {
  const parsed = splitHostPort(text);
  if (!parsed || ipFamily(parsed.host) === 0 || parsed.host.includes('%')) return undefined;
  return formatHostPort(parsed.host, parsed.port);
}

function parseWindow(text: string): number | undefined {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms % 1000 !== 0 || ms < MIN_WINDOW_MS || ms > MAX_WINDOW_MS) return undefined;
  return ms;
}

function parseNumber(text: string): number | undefined {
  if (!/^[+]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

export const triggerMetadataSchema = z
  .object({
    service: key('service', (t) => (DNS_1035.test(t) ? t : undefined)),
    // All digits: a port number; otherwise a port name (IANA_SVC_NAME has at least one letter).
    servicePort: key('servicePort', (t) => (/^\d+$/.test(t) ? parsePort(t)?.toString() : PORT_NAME.test(t) && /[a-z]/.test(t) ? t : undefined)),
    port: key('port', (t) => {
      const ports = parseList(t, MAX_PORTS_PER_TRIGGER, parsePort);
      return ports && [...new Set(ports)].sort((a, b) => a - b);
    }),
    netns: key('netns', (t) => (t.startsWith('/') && !/[\s\0]/.test(t) && t.length <= 4096 ? t : undefined)),
    demandAddress: key('demandAddress', (t) => {
      const addresses = parseList(t, MAX_DEMAND_ADDRESSES_PER_TRIGGER, parseDemandAddress);
      return addresses && [...new Set(addresses)].sort();
    }),
    metric: key('metric', (t): MetricKind | undefined => (metricKinds as readonly string[]).includes(t) ? (t as MetricKind) : undefined),
    quantile: key('quantile', (t) => {
      const q = parseNumber(t);
      return q !== undefined && q > 0 && q < 1 ? q : undefined;
    }),
    targetValue: key('targetValue', (t) => {
      const v = parseNumber(t);
      return v !== undefined && v >= MIN_TARGET_VALUE && v <= MAX_TARGET_VALUE ? v : undefined;
    }),
    window: key('window', parseWindow),
    activationRequests: key('activationRequests', (t) => (/^\d{1,9}$/.test(t) && Number(t) >= 1 ? Number(t) : undefined)),
    activationWindow: key('activationWindow', parseWindow),
    holdAtZero: key('holdAtZero', (t) => {
      const ms = parseDurationMs(t);
      if (ms === 0) return 0;
      return ms !== undefined && ms >= MIN_HOLD_AT_ZERO_MS && ms <= MAX_HOLD_AT_ZERO_MS ? ms : undefined;
    }),
  })
  .superRefine((m, ctx) => {
    if (m.targetValue === undefined) {
      ctx.addIssue({ code: 'custom', path: ['targetValue'], message: `is required: ${acceptedForms.targetValue}` });
    }
    if (m.service === undefined && m.port === undefined && m.demandAddress === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'nothing to observe: set "service" (Kubernetes mode) or "port" and/or "demandAddress" (standalone)',
      });
    }
    if (m.servicePort !== undefined && m.service === undefined) {
      ctx.addIssue({ code: 'custom', path: ['servicePort'], message: 'only applies together with "service"' });
    }
    if (m.holdAtZero && m.service === undefined && (m.port === undefined || m.demandAddress === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['holdAtZero'],
        message:
          'needs "service" (Kubernetes mode), or "demandAddress" and "port" (standalone): the connections to hold and the server whose readiness releases them',
      });
    }
    if (m.netns !== undefined && m.port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['netns'], message: 'only applies together with "port" (the server ports to time in that namespace)' });
    }
  });

/** What a trigger observes: two triggers with equal selections share one target. */
export interface Selection {
  /** Kubernetes mode only: the ScaledObject's namespace, which scopes `service`. */
  readonly namespace?: string;
  readonly service?: string;
  readonly servicePort?: string;
  readonly ports: readonly number[];
  readonly netns?: string;
  readonly demandAddresses: readonly string[];
}

/** A parsed trigger: a selection plus how to turn its data into one metric. */
export interface TriggerConfig {
  readonly selection: Selection;
  readonly metric: MetricKind;
  readonly quantile: number;
  readonly targetValue: number;
  readonly windowMs: number;
  readonly activationRequests: number;
  readonly activationWindowMs: number;
  /** 0 = off: connections to the target at zero are refused as before. */
  readonly holdAtZeroMs: number;
}

/**
 * Parses a ScaledObjectRef's scalerMetadata (`<key>FromEnv` read as `<key>`, see
 * metadata-from-env.ts). Throws ScalerError INVALID_METADATA naming every bad key and its
 * accepted form.
 */
export function parseTriggerMetadata(metadata: Readonly<Record<string, string>>, namespace = ''): TriggerConfig {
  const result = triggerMetadataSchema.safeParse(resolveFromEnvKeys(metadata, Object.keys(acceptedForms)));
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `metadata "${String(issue.path[0] ?? '?')}": ${issue.message}`);
    throw new ScalerError('INVALID_METADATA', problems.join('; '));
  }
  const m = result.data;
  const selection: Selection = {
    ...(m.service !== undefined ? { namespace, service: m.service } : {}),
    ...(m.servicePort !== undefined ? { servicePort: m.servicePort } : {}),
    ports: m.port ?? [],
    ...(m.netns !== undefined ? { netns: m.netns } : {}),
    demandAddresses: m.demandAddress ?? [],
  };
  return {
    selection,
    metric: m.metric ?? metadataDefaults.metric,
    quantile: m.quantile ?? metadataDefaults.quantile,
    // superRefine guarantees presence; the fallback only satisfies the type checker.
    targetValue: m.targetValue ?? MIN_TARGET_VALUE,
    windowMs: m.window ?? parseWindow(metadataDefaults.window)!,
    activationRequests: m.activationRequests ?? metadataDefaults.activationRequests,
    activationWindowMs: m.activationWindow ?? parseWindow(metadataDefaults.activationWindow)!,
    holdAtZeroMs: m.holdAtZero ?? 0,
  };
}
