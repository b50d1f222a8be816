import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import type { Command } from '../cli.js';
import { parseFlags, UsageError, type FlagSpec } from '../config/flags.js';
import type { ExternalScalerClient } from '../proto/generated/externalscaler/ExternalScaler.js';
import type { GetMetricSpecResponse__Output } from '../proto/generated/externalscaler/GetMetricSpecResponse.js';
import type { ScaledObjectRef } from '../proto/generated/externalscaler/ScaledObjectRef.js';
import { splitHostPort } from '../net/address.js';
import { loadExternalScaler } from '../proto/load.js';
import { parseDurationMs } from '../scaler/duration.js';
import { clientCredentials } from '../stream/credentials.js';

/**
 * `query`: calls the scaler's KEDA RPCs the way the KEDA operator does and prints each
 * response as one line of JSON, so a user can see what KEDA sees without a cluster.
 */
const SUMMARY = 'Call the KEDA RPCs (externalscaler.ExternalScaler) of a scaler as KEDA would and print JSON: isactive | spec | metrics | stream | streamspec.';

const RPCS = ['isactive', 'spec', 'metrics', 'stream', 'streamspec'] as const;
type Rpc = (typeof RPCS)[number];

const hostPort = z.string({ error: 'required (HOST:PORT)' }).refine((text) => splitHostPort(text) !== undefined, 'expected HOST:PORT, e.g. 127.0.0.1:9090');

const duration = (what: string) =>
  z.string().transform((text, ctx) => {
    const ms = parseDurationMs(text);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} such as "5s" or "500ms", got "${text}"` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * Repeated --meta flags arrive joined with "," (flags.ts), and values may contain commas
 * themselves (port=8080,8081). A piece without "=" therefore continues the previous value.
 */
export function parseMeta(joined: string | undefined): Record<string, string> {
  const meta: Record<string, string> = {};
  if (joined === undefined || joined === '') return meta;
  let lastKey: string | undefined;
  for (const piece of joined.split(',')) {
    const eq = piece.indexOf('=');
    if (eq > 0) {
      lastKey = piece.slice(0, eq).trim();
      meta[lastKey] = piece.slice(eq + 1);
    } else if (lastKey !== undefined) {
      meta[lastKey] += `,${piece}`;
    } else {
      throw new Error(`"${piece}" is not key=value`);
    }
  }
  return meta;
}

const metaSchema = z
  .string()
  .optional()
  .transform((text, ctx) => {
    try {
      return parseMeta(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (give --meta key=value once per key)` });
      return z.NEVER;
    }
  });

export const queryFlags = [
  { name: 'addr', env: 'KEDA_EBPF_SCALER_ADDR', valueName: 'HOST:PORT', description: 'Scaler gRPC address.', schema: hostPort },
  { name: 'name', valueName: 'NAME', description: 'ScaledObject name (ScaledObjectRef.name).', schema: z.string({ error: 'required' }).min(1, 'required') },
  { name: 'namespace', valueName: 'NS', description: 'ScaledObject namespace. Default "default".', schema: z.string().min(1).default('default') },
  {
    name: 'meta',
    valueName: 'KEY=VALUE',
    repeatable: true,
    description: 'Trigger metadata entry; repeat per key (e.g. --meta port=8080 --meta metric=rps --meta targetValue=100). scalerAddress is added as KEDA does.',
    schema: metaSchema,
  },
  { name: 'metric-name', valueName: 'NAME', description: 'metrics: the metric to ask for. Default: every name GetMetricSpec returns (what KEDA does).', schema: z.string().min(1).optional() },
  { name: 'tls-ca', valueName: 'FILE', description: 'PEM CA that signed the scaler certificate: dial with TLS.', schema: z.string().min(1).optional() },
  { name: 'tls-cert', valueName: 'FILE', description: 'PEM client certificate for mTLS (needs --tls-key).', schema: z.string().min(1).optional() },
  { name: 'tls-key', valueName: 'FILE', description: 'PEM private key of --tls-cert.', schema: z.string().min(1).optional() },
  { name: 'tls-server-name', valueName: 'NAME', description: 'Name to verify in the scaler certificate when it differs from the --addr host.', schema: z.string().min(1).optional() },
  { name: 'timeout', valueName: 'DURATION', description: 'Deadline of each unary call, and for streams the wait for the first message. Default 5s.', schema: duration('a duration').default(5000) },
  { name: 'count', valueName: 'N', description: 'stream/streamspec: stop after N messages.', schema: z.coerce.number().int().min(1).optional() },
  { name: 'duration', valueName: 'DURATION', description: 'stream/streamspec: stop after this long (default: until Ctrl-C).', schema: duration('a duration').optional() },
] as const satisfies readonly FlagSpec[];

type QueryFlags = ReturnType<typeof parseFlags<typeof queryFlags>>['values'];

/** A failed call: printed as "CODE_NAME: details" on stderr, exit 1. */
class CallFailed extends Error {
  constructor(readonly code: grpc.status, readonly details: string) {
    super(`${grpc.status[code] ?? code}: ${details}`);
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

function channelCredentials(values: QueryFlags): grpc.ChannelCredentials {
  const { 'tls-ca': caFile, 'tls-cert': certFile, 'tls-key': keyFile } = values;
  // grpc-js passes an IP literal as the TLS server name, which makes Node print an RFC 6066
  // deprecation warning on every dial; in this one-shot tool it would only garble stderr.
  if (caFile !== undefined || certFile !== undefined) process.noDeprecation = true;
  return clientCredentials({ caFile, certFile, keyFile });
}

function unary<Req, Res>(
  method: (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) reject(new CallFailed(err.code, err.details));
      else if (res === undefined) reject(new CallFailed(grpc.status.INTERNAL, 'empty response'));
      else resolve(res);
    });
  });
}

/** Prints stream messages until count/duration/Ctrl-C or the server ends the stream. */
function follow(stream: grpc.ClientReadableStream<unknown>, values: QueryFlags, print: (line: unknown) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let stopping = false;
    const stop = () => {
      stopping = true;
      cleanup();
      stream.cancel();
      resolve();
    };
    const firstTimer = setTimeout(() => {
      cleanup();
      stream.cancel();
      reject(new CallFailed(grpc.status.DEADLINE_EXCEEDED, `no message within ${values.timeout} ms`));
    }, values.timeout);
    const durationTimer = values.duration !== undefined ? setTimeout(stop, values.duration) : undefined;
    const cleanup = () => {
      clearTimeout(firstTimer);
      clearTimeout(durationTimer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    stream.on('data', (message: unknown) => {
      if (stopping) return;
      clearTimeout(firstTimer);
      print(message);
      received++;
      if (values.count !== undefined && received >= values.count) stop();
    });
    stream.on('error', (err: unknown) => {
      if (stopping) return;
      cleanup();
      reject(isServiceError(err) ? new CallFailed(err.code, err.details) : err);
    });
    stream.on('status', (status: grpc.StatusObject) => {
      if (stopping || status.code !== grpc.status.OK) return;
      cleanup();
      resolve();
    });
  });
}

async function runRpc(rpc: Rpc, client: ExternalScalerClient, ref: ScaledObjectRef, values: QueryFlags, print: (line: unknown) => void): Promise<void> {
  const timeout = values.timeout;
  switch (rpc) {
    case 'isactive':
      print(await unary(client.IsActive.bind(client), ref, timeout));
      return;
    case 'spec':
      print(await unary(client.GetMetricSpec.bind(client), ref, timeout));
      return;
    case 'metrics': {
      let names: string[];
      if (values['metric-name'] !== undefined) {
        names = [values['metric-name']];
      } else {
        // KEDA asks for the spec first and then GetMetrics once per metric name in it.
        const spec = await unary<ScaledObjectRef, GetMetricSpecResponse__Output>(client.GetMetricSpec.bind(client), ref, timeout);
        names = spec.metricSpecs.map((s) => s.metricName);
        if (names.length === 0) throw new CallFailed(grpc.status.FAILED_PRECONDITION, 'GetMetricSpec returned no metric; pass --metric-name');
      }
      for (const metricName of names) print(await unary(client.GetMetrics.bind(client), { scaledObjectRef: ref, metricName }, timeout));
      return;
    }
    case 'stream':
      await follow(client.StreamIsActive(ref), values, print);
      return;
    case 'streamspec':
      await follow(client.StreamMetricSpec(ref), values, print);
      return;
  }
}

export const queryCommand: Command = {
  summary: SUMMARY,
  flags: queryFlags,
  usage: 'query isactive|spec|metrics|stream|streamspec',
  async run(argv, env) {
    const { values, positionals } = parseFlags(queryFlags, argv, env);
    const rpc = positionals[0];
    if (positionals.length !== 1 || !(RPCS as readonly string[]).includes(rpc ?? '')) {
      throw new UsageError(`expected one of ${RPCS.join(', ')} before the flags, got ${positionals.length === 0 ? 'nothing' : positionals.join(' ')}`);
    }
    const credentials = channelCredentials(values);
    const channelOptions: grpc.ChannelOptions = values['tls-server-name'] !== undefined ? { 'grpc.ssl_target_name_override': values['tls-server-name'] } : {};
    const proto = loadExternalScaler();
    const client = new proto.externalscaler.ExternalScaler(values.addr, credentials, channelOptions);
    // KEDA forwards the trigger's whole metadata map, scalerAddress included.
    const ref: ScaledObjectRef = { name: values.name, namespace: values.namespace, scalerMetadata: { scalerAddress: values.addr, ...values.meta } };
    try {
      await runRpc(rpc as Rpc, client, ref, values, (message) => process.stdout.write(`${JSON.stringify(message)}\n`));
      return 0;
    } catch (err) {
      if (err instanceof CallFailed) {
        console.error(err.message);
        return 1;
      }
      throw err;
    } finally {
      client.close();
    }
  },
};
