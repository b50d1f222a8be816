import { z } from 'zod';

/**
 * The subset of Kubernetes objects this project reads, as zod schemas (the source of truth
 * for their types). Loose: unknown fields are kept and ignored, so newer API servers and the
 * typed client's deserialized classes both parse. Only fields we act on are declared.
 */

const labels = z.record(z.string(), z.string());

export const objectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  labels: labels.nullish(),
});

/** IntOrString as the API serves it (a JSON number or a string naming a container port). */
const intOrString = z.union([z.number().int(), z.string()]);

export const servicePortSchema = z.looseObject({
  name: z.string().nullish(),
  protocol: z.string().nullish(),
  port: z.number().int(),
  targetPort: intOrString.nullish(),
});
export type ServicePort = z.infer<typeof servicePortSchema>;

export const serviceSchema = z.looseObject({
  metadata: objectMetaSchema,
  spec: z
    .looseObject({
      type: z.string().nullish(),
      clusterIP: z.string().nullish(),
      clusterIPs: z.array(z.string()).nullish(),
      selector: labels.nullish(),
      ports: z.array(servicePortSchema).nullish(),
    })
    .nullish(),
});
export type Service = z.infer<typeof serviceSchema>;

export const endpointSliceSchema = z.looseObject({
  metadata: objectMetaSchema,
  addressType: z.string(),
  ports: z
    .array(
      z.looseObject({
        name: z.string().nullish(),
        protocol: z.string().nullish(),
        port: z.number().int().nullish(),
      }),
    )
    .nullish(),
  endpoints: z
    .array(
      z.looseObject({
        addresses: z.array(z.string()),
        conditions: z.looseObject({ ready: z.boolean().nullish() }).nullish(),
      }),
    )
    .nullish(),
});
export type EndpointSlice = z.infer<typeof endpointSliceSchema>;

const containerSchema = z.looseObject({
  name: z.string(),
  ports: z
    .array(
      z.looseObject({
        name: z.string().nullish(),
        containerPort: z.number().int(),
        protocol: z.string().nullish(),
      }),
    )
    .nullish(),
});

const containerStatusSchema = z.looseObject({
  name: z.string(),
  containerID: z.string().nullish(),
  state: z.looseObject({ running: z.looseObject({}).nullish() }).nullish(),
});

export const podSchema = z.looseObject({
  metadata: objectMetaSchema,
  spec: z
    .looseObject({
      nodeName: z.string().nullish(),
      hostNetwork: z.boolean().nullish(),
      containers: z.array(containerSchema),
    })
    .nullish(),
  status: z
    .looseObject({
      phase: z.string().nullish(),
      qosClass: z.string().nullish(),
      containerStatuses: z.array(containerStatusSchema).nullish(),
    })
    .nullish(),
});
export type Pod = z.infer<typeof podSchema>;

export const scaledObjectSchema = z.looseObject({
  metadata: objectMetaSchema,
  spec: z.looseObject({
    triggers: z.array(
      z.looseObject({
        type: z.string(),
        name: z.string().nullish(),
        metadata: z.record(z.string(), z.string()).nullish(),
      }),
    ),
  }),
});
export type ScaledObject = z.infer<typeof scaledObjectSchema>;

/** The key a namespaced object is stored under: "namespace/name". */
export function objectKey(meta: { namespace?: string | undefined; name: string }): string {
  return `${meta.namespace ?? ''}/${meta.name}`;
}

/** Parses raw API JSON with schema; undefined when it does not match. */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> | undefined {
  const result = schema.safeParse(raw);
  return result.success ? result.data : undefined;
}
