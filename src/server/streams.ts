/**
 * Open server streams, so a graceful stop can end each of them with status OK (KEDA resets
 * its reconnect backoff only on OK; collectors reconnect to another replica at once).
 */
export interface Closable {
  /** End the stream with status OK and drop its listeners. */
  end(): void;
}

export class StreamTracker {
  private readonly open = new Set<Closable>();
  private closing = false;

  get size(): number {
    return this.open.size;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Returns the function that forgets the stream (call it on cancel/close). */
  add(stream: Closable): () => void {
    this.open.add(stream);
    return () => this.open.delete(stream);
  }

  endAll(): void {
    this.closing = true;
    for (const stream of [...this.open]) {
      this.open.delete(stream);
      stream.end();
    }
  }
}
