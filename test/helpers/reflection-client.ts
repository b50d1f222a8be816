import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loaderOptions } from '../../src/proto/load.js';

/**
 * A grpc.reflection.v1 client (grpc-js, from @grpc/reflection's own proto): one request,
 * one response. Tests use it to fetch the encoded FileDescriptorProtos a server serves.
 */

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

const reflectionProto = new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url).pathname;

export function reflectionRequest(address: string, request: object, timeoutMs = 5000): Promise<ReflectionResponse> {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, loaderOptions)) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: typeof grpc.Client } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  const stream = (client as unknown as { ServerReflectionInfo(options: grpc.CallOptions): grpc.ClientDuplexStream<object, ReflectionResponse> }).ServerReflectionInfo({
    deadline: Date.now() + timeoutMs,
  });
  return new Promise<ReflectionResponse>((resolve, reject) => {
    stream.on('data', (response: ReflectionResponse) => {
      resolve(response);
      stream.end();
    });
    stream.on('error', reject);
    stream.write(request);
  }).finally(() => client.close());
}

/** Every file the server serves for these symbols, with the files they depend on, deduplicated. */
export async function servedFiles(address: string, symbols: readonly string[]): Promise<Buffer[]> {
  const seen = new Map<string, Buffer>();
  for (const symbol of symbols) {
    const response = await reflectionRequest(address, { file_containing_symbol: symbol });
    if (response.error_response) throw new Error(`reflection: ${symbol}: ${response.error_response.error_message}`);
    for (const file of response.file_descriptor_response?.file_descriptor_proto ?? []) seen.set(file.toString('base64'), file);
  }
  return [...seen.values()];
}
