import { constants as http2 } from 'node:http2';

/**
 * Resets (RST_STREAM CANCEL) the HTTP/2 stream under a grpc-js server call. Needed for a
 * peer that stopped reading: grpc-js sends the status only after every queued message has
 * been written, which for such a peer is never, so the stream and the bytes queued on it
 * would stay until the peer's connection closes. grpc-js has no public way to abort a server
 * call, so this walks its (private, stable since 1.10) fields: call.call[.nextCall].stream.
 * Returns false when the layout is not what it expects (the status path still ends the call
 * for a peer that reads again).
 */
export function resetServerStream(call: object): boolean {
  let node: unknown = call;
  for (let depth = 0; depth < 4 && typeof node === 'object' && node !== null; depth++) {
    const fields = node as { stream?: unknown; nextCall?: unknown; call?: unknown };
    const stream = fields.stream as { close?: unknown; destroyed?: unknown } | undefined;
    if (stream && typeof stream.close === 'function' && typeof stream.destroyed === 'boolean') {
      if (!stream.destroyed) (stream.close as (code: number) => void).call(stream, http2.NGHTTP2_CANCEL);
      return true;
    }
    node = fields.nextCall ?? fields.call;
  }
  return false;
}
