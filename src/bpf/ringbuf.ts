import { BpfError, errnoOf } from './errors.js';
import { libbpf, type Pointer } from './libbpf.js';
import type { BpfMap } from './map.js';

/**
 * A BPF ring buffer consumed from the Node event loop: libuv polls the ring's epoll fd
 * and, when it is readable, ring_buffer__consume() (non-blocking) hands each record to
 * `onRecord` synchronously. The event loop is never blocked and no thread is involved.
 */
export class RingBufferReader {
  private rb: Pointer | null;
  private readonly callback: unknown;
  private readonly poller: { stop(): void; unref(): void };
  private consuming = false;

  constructor(map: BpfMap, onRecord: (record: Buffer) => void) {
    const lib = libbpf();
    this.callback = lib.registerSampleCallback((_ctx, data, size) => {
      // Copy out: the record's memory is returned to the kernel when we return.
      onRecord(lib.readBytes(data, Number(size)));
      return 0;
    });
    const rb = lib.ring_buffer__new(map.fd, this.callback, null, null);
    if (rb === null) {
      const errno = lib.errno();
      lib.unregisterCallback(this.callback);
      throw new BpfError('ring-buffer', `ring_buffer__new on ${map.name}`, errno);
    }
    this.rb = rb;
    this.poller = lib.pollReadable(lib.ring_buffer__epoll_fd(rb), () => this.consume());
    // A collector keeps running because of its tick timer, not because of this poll.
    this.poller.unref();
  }

  /** Drains every available record now; returns how many were consumed. */
  consume(): number {
    if (this.rb === null || this.consuming) return 0;
    this.consuming = true;
    try {
      const ret = libbpf().ring_buffer__consume(this.rb);
      if (ret < 0) throw new BpfError('ring-buffer', 'ring_buffer__consume', errnoOf(ret, libbpf().errno()));
      return ret;
    } finally {
      this.consuming = false;
    }
  }

  close(): void {
    if (this.rb === null) return;
    this.poller.stop();
    const lib = libbpf();
    lib.ring_buffer__free(this.rb);
    lib.unregisterCallback(this.callback);
    this.rb = null;
  }
}
