import { BpfError, EINVAL, ENOENT, ENOTSUPP, EOPNOTSUPP, errnoOf } from './errors.js';
import { libbpf } from './libbpf.js';

/** BPF_ANY / BPF_NOEXIST / BPF_EXIST flags of bpf_map_update_elem. */
export const BPF_ANY = 0n;
export const BPF_NOEXIST = 1n;

/**
 * A map by fd with raw byte keys and values; the typed readers (src/bpf/abi.ts codecs)
 * sit on top. Lookups return undefined for a missing key; other failures throw.
 */
export class BpfMap {
  private batchUnsupported = false;

  constructor(
    readonly name: string,
    readonly fd: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
  ) {}

  lookup(key: Buffer, value: Buffer = Buffer.alloc(this.valueSize)): Buffer | undefined {
    const lib = libbpf();
    const ret = lib.bpf_map_lookup_elem(this.fd, key, value);
    if (ret === 0) return value;
    const errno = errnoOf(ret, lib.errno());
    if (errno === ENOENT) return undefined;
    throw new BpfError('map-read', `lookup in ${this.name}`, errno);
  }

  /** Throws BpfError (errno E2BIG / ENOSPC / ENOMEM when the map is full). */
  update(key: Buffer, value: Buffer, flags: bigint = BPF_ANY): void {
    const lib = libbpf();
    const ret = lib.bpf_map_update_elem(this.fd, key, value, flags);
    if (ret !== 0) throw new BpfError('map-write', `update of ${this.name}`, errnoOf(ret, lib.errno()));
  }

  /** Returns false when the key was absent. */
  delete(key: Buffer): boolean {
    const lib = libbpf();
    const ret = lib.bpf_map_delete_elem(this.fd, key);
    if (ret === 0) return true;
    const errno = errnoOf(ret, lib.errno());
    if (errno === ENOENT) return false;
    throw new BpfError('map-write', `delete from ${this.name}`, errno);
  }

  /**
   * Values of array slots 0 .. count-1 in one BPF_MAP_LOOKUP_BATCH syscall (kernel >=
   * 5.6), or one lookup per slot where batching is refused. `values` receives
   * count * valueSize bytes.
   */
  readArrayPrefix(count: number, values: Buffer): void {
    if (count <= 0) return;
    if (values.length < count * this.valueSize) throw new RangeError(`${this.name}: buffer too small for ${count} values`);
    if (!this.batchUnsupported) {
      const lib = libbpf();
      const keys = Buffer.alloc(count * this.keySize);
      const outBatch = Buffer.alloc(this.keySize);
      const countBuf = Buffer.alloc(4);
      countBuf.writeUInt32LE(count);
      const ret = lib.bpf_map_lookup_batch(this.fd, null, outBatch, keys, values, countBuf, null);
      const errno = ret === 0 ? 0 : errnoOf(ret, lib.errno());
      // ENOENT: the batch reached the map's end, all `count` entries were still copied.
      if (ret === 0 || errno === ENOENT) {
        if (countBuf.readUInt32LE() >= count) return;
      } else if (errno !== EINVAL && errno !== EOPNOTSUPP && errno !== ENOTSUPP) {
        throw new BpfError('map-read', `batch lookup in ${this.name}`, errno);
      }
      this.batchUnsupported = true; // EINVAL/EOPNOTSUPP/ENOTSUPP: old kernel, fall back
    }
    const key = Buffer.alloc(4);
    for (let slot = 0; slot < count; slot++) {
      key.writeUInt32LE(slot);
      const view = values.subarray(slot * this.valueSize, (slot + 1) * this.valueSize);
      if (!this.lookup(key, view)) view.fill(0);
    }
  }
}
