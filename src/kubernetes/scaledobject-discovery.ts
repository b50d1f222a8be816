import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { classifyApiError, httpStatusOf } from './errors.js';
import { parseWith, scaledObjectSchema } from './objects.js';
import { addressNamesScaler, type ScalerIdentity } from './scaler-address.js';

export { addressNamesScaler, type ScalerIdentity } from './scaler-address.js';

/** One external trigger of a ScaledObject that points at this scaler. */
export interface DiscoveredTrigger {
  readonly namespace: string;
  /** The ScaledObject's name (what KEDA sends as ScaledObjectRef.name). */
  readonly name: string;
  readonly triggerIndex: number;
  readonly type: 'external' | 'external-push';
  /** The trigger's whole metadata map, as KEDA would send it as scalerMetadata. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface DiscoveryOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  readonly identity: ScalerIdentity;
  /** Page size of the list (large clusters). */
  readonly pageSize?: number;
}

const listSchema = z.looseObject({
  metadata: z.looseObject({ continue: z.string().nullish() }).nullish(),
  items: z.array(z.unknown()),
});

const DEFAULT_PAGE_SIZE = 500;
// Bounded: a cluster with more pages than this is listed partially (and says so).
const MAX_PAGES = 100;

/**
 * Lists ScaledObjects in all namespaces and returns the external triggers whose
 * scalerAddress names this scaler, so a restarted scaler can register their targets before
 * KEDA calls again. Never fails: without RBAC (403), without the KEDA CRD (404) or without
 * an API server it logs one line and returns [].
 */
export async function discoverScaledObjects(options: DiscoveryOptions): Promise<DiscoveredTrigger[]> {
  const logger = options.logger.child({ component: 'scaledobject-discovery' });
  const api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const found: DiscoveredTrigger[] = [];
  let token: string | undefined;
  let pages = 0;
  let malformed = 0;
  try {
    do {
      const raw: unknown = await api.listClusterCustomObject({
        group: 'keda.sh',
        version: 'v1alpha1',
        plural: 'scaledobjects',
        limit: options.pageSize ?? DEFAULT_PAGE_SIZE,
        ...(token ? { _continue: token } : {}),
      });
      const page = listSchema.parse(raw);
      for (const item of page.items) {
        const so = parseWith(scaledObjectSchema, item);
        if (!so) {
          malformed++;
          continue;
        }
        const namespace = so.metadata.namespace ?? '';
        so.spec.triggers.forEach((trigger, triggerIndex) => {
          if (trigger.type !== 'external' && trigger.type !== 'external-push') return;
          const metadata = trigger.metadata ?? {};
          const address = metadata.scalerAddress;
          if (address === undefined || !addressNamesScaler(address, namespace, options.identity)) return;
          found.push({ namespace, name: so.metadata.name, triggerIndex, type: trigger.type, metadata: { ...metadata } });
        });
      }
      token = page.metadata?.continue ?? undefined;
      pages++;
    } while (token && pages < MAX_PAGES);
  } catch (err) {
    const status = httpStatusOf(err);
    const error = classifyApiError(err, { verb: 'list', group: 'keda.sh', resource: 'scaledobjects' });
    const reason =
      status === 404 ? 'the KEDA ScaledObject CRD (keda.sh/v1alpha1) is not installed' : error.message;
    logger.warn({ reason }, 'ScaledObject discovery off: targets are registered when KEDA first calls');
    return [];
  }
  if (token) logger.warn({ pages }, 'ScaledObject discovery stopped at the page limit; the rest register when KEDA calls');
  if (malformed > 0) logger.warn({ malformed }, 'skipped malformed ScaledObjects');
  logger.info({ triggers: found.length }, 'ScaledObject discovery done');
  return found;
}
