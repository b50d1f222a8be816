import type * as grpc from '@grpc/grpc-js';
import { setNewest } from '../bounded-map.js';

/**
 * KEDA resends byte-identical requests (the same ScaledObjectRef on every poll) and the
 * scaler gives the same few answers (IsActive true or false, a trigger's fixed metric spec),
 * so the wire work of the KEDA port is memoized:
 * - a request whose bytes were seen decodes to the same deeply frozen object (no protobuf
 *   decode); the trigger cache then finds its entry by that object (keda/trigger.ts), with
 *   no key to build. Bounded per method; requests above MAX_CACHED_REQUEST_BYTES are decoded
 *   every time and never kept.
 * - a frozen response object is encoded once (a WeakMap from the object to its bytes), so
 *   handlers that answer with frozen constants skip the encoding. grpc-js copies the bytes
 *   into its own frame, so sharing them is safe.
 * Content never changes: a request decodes to what protobuf would decode, a response encodes
 * to what protobuf would encode.
 */

/** KEDA's metadata maps are a few hundred bytes; bigger requests are not worth keeping. */
export const MAX_CACHED_REQUEST_BYTES = 4096;

function deepFreeze<T>(value: T): T {
  // Typed arrays cannot be frozen (the ExternalScaler messages have no bytes fields anyway).
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** `decode` memoized by the exact bytes, at most `maxEntries` distinct requests (oldest out first). */
export function memoizedDecoder<T>(decode: (bytes: Buffer) => T, maxEntries: number): (bytes: Buffer) => T {
  const decoded = new Map<string, T>();
  return (bytes) => {
    if (bytes.length > MAX_CACHED_REQUEST_BYTES) return decode(bytes);
    // latin1 maps each byte to one character: distinct bytes, distinct keys.
    const key = bytes.toString('latin1');
    const hit = decoded.get(key);
    if (hit !== undefined) return hit;
    const value = deepFreeze(decode(bytes));
    setNewest(decoded, key, value, maxEntries);
    return value;
  };
}

/** `encode`, remembering the bytes of frozen objects (the handlers' reused answers). */
export function memoizedEncoder<T>(encode: (value: T) => Buffer): (value: T) => Buffer {
  const encoded = new WeakMap<object, Buffer>();
  return (value) => {
    if (value === null || typeof value !== 'object' || !Object.isFrozen(value)) return encode(value);
    let bytes = encoded.get(value);
    if (bytes === undefined) {
      bytes = encode(value);
      encoded.set(value, bytes);
    }
    return bytes;
  };
}

/** A copy of a service definition whose methods decode and encode through the caches above. */
export function withWireCaches<S extends grpc.ServiceDefinition>(service: S, maxRequestsPerMethod: number): S {
  const copy: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service) as [string, grpc.MethodDefinition<unknown, unknown>][]) {
    copy[name] = {
      ...method,
      requestDeserialize: memoizedDecoder(method.requestDeserialize, maxRequestsPerMethod),
      responseSerialize: memoizedEncoder(method.responseSerialize),
    };
  }
  return copy as S;
}
