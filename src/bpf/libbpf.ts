import koffi, { type LibraryHandle } from 'koffi';

/**
 * The raw libbpf binding: the only module that imports koffi. Declares just the libbpf
 * 1.x entry points the collector needs, against the system `libbpf.so.1` (Debian 12 ships
 * 1.1). Everything above this file uses the typed wrappers in object.ts, map.ts and
 * ringbuf.ts; nothing here knows about targets or histograms.
 *
 * Pointers to libbpf objects stay opaque (`Pointer`); fds are numbers; errors are negative
 * errno returns or NULL + errno, turned into BpfError by the callers.
 */

/** An opaque native pointer (struct bpf_object *, struct bpf_map *, ...). */
export type Pointer = unknown;

export const LIBBPF_SONAME = 'libbpf.so.1';

/** libbpf_print_level LIBBPF_DEBUG: per-relocation chatter, never kept. */
const LIBBPF_DEBUG = 2;

/** How much of libbpf's recent output is kept for errors (a verifier verdict is its last lines). */
export const LIBBPF_LOG_KEEP_CHARS = 64 * 1024;

/**
 * sizeof(va_list) where va_list is a struct behind a pointer-sized argument (x86-64's
 * __va_list_tag[1], AArch64's 32-byte struct): copying it is what va_copy does there.
 */
const VA_LIST_BYTES: Readonly<Partial<Record<string, number>>> = { x64: 24, arm64: 32 };

interface LibbpfFunctions {
  bpf_object__open_file(path: string, opts: null): Pointer | null;
  bpf_object__load(obj: Pointer): number;
  bpf_object__close(obj: Pointer): void;
  bpf_object__find_program_by_name(obj: Pointer, name: string): Pointer | null;
  bpf_object__find_map_by_name(obj: Pointer, name: string): Pointer | null;
  bpf_object__next_program(obj: Pointer, prev: Pointer | null): Pointer | null;
  bpf_program__name(prog: Pointer): string;
  bpf_program__set_autoload(prog: Pointer, autoload: boolean): number;
  bpf_program__attach(prog: Pointer): Pointer | null;
  bpf_program__attach_cgroup(prog: Pointer, cgroupFd: number): Pointer | null;
  bpf_program__fd(prog: Pointer): number;
  bpf_link__destroy(link: Pointer): number;
  bpf_map__fd(map: Pointer): number;
  bpf_map__set_max_entries(map: Pointer, maxEntries: number): number;
  bpf_map__value_size(map: Pointer): number;
  bpf_map__key_size(map: Pointer): number;
  bpf_map__max_entries(map: Pointer): number;
  bpf_map_lookup_elem(fd: number, key: Buffer, value: Buffer): number;
  bpf_map_update_elem(fd: number, key: Buffer, value: Buffer, flags: bigint): number;
  bpf_map_delete_elem(fd: number, key: Buffer): number;
  bpf_map_lookup_batch(
    fd: number,
    inBatch: Buffer | null,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    count: Buffer,
    opts: null,
  ): number;
  ring_buffer__new(mapFd: number, sampleCb: unknown, ctx: null, opts: null): Pointer | null;
  ring_buffer__consume(rb: Pointer): number;
  ring_buffer__epoll_fd(rb: Pointer): number;
  ring_buffer__free(rb: Pointer): void;
  libbpf_strerror(err: number, buf: Buffer, size: number): number;
  btf__load_vmlinux_btf(): Pointer | null;
  btf__find_by_name_kind(btf: Pointer, name: string, kind: number): number;
  btf__free(btf: Pointer): void;
  libbpf_major_version(): number;
  bpf_obj_get_info_by_fd(fd: number, info: Buffer, infoLen: Buffer): number;
  bpf_prog_get_fd_by_id(id: number): number;
  libbpf_minor_version(): number;
}

export interface Libbpf extends LibbpfFunctions {
  /** errno of the last libbpf call on this thread (libbpf 1.x: NULL + errno). */
  errno(): number;
  /** Wraps a JS function as a ring_buffer_sample_fn; free it with unregisterCallback. */
  registerSampleCallback(fn: (ctx: unknown, data: unknown, size: number) => number): unknown;
  unregisterCallback(cb: unknown): void;
  /** Copies `size` bytes behind a native pointer (a ring-buffer record) into a Buffer. */
  readBytes(ptr: unknown, size: number): Buffer;
  /** Calls back when fd becomes readable (libuv poll: never blocks the event loop). */
  pollReadable(fd: number, onReadable: () => void): { stop(): void; unref(): void };
  /** Position in libbpf's output so far; pass it to logSince() after a step. */
  logMark(): number;
  /** What libbpf printed (warnings and info) since `mark`, at most LIBBPF_LOG_KEEP_CHARS of its end. */
  logSince(mark: number): string;
}

/**
 * libbpf's output, routed here by libbpf_set_print instead of stderr, so a failed load can
 * carry the verifier's log in its error. Keeps the last LIBBPF_LOG_KEEP_CHARS characters.
 */
class LibbpfLog {
  private text = '';
  /** Characters ever appended; text holds the last text.length of them. */
  private total = 0;

  append(chunk: string): void {
    this.total += chunk.length;
    this.text = (this.text + chunk).slice(-LIBBPF_LOG_KEEP_CHARS);
  }

  mark(): number {
    return this.total;
  }

  since(mark: number): string {
    const fresh = this.total - mark;
    return fresh <= 0 ? '' : this.text.slice(-Math.min(fresh, this.text.length));
  }
}

/**
 * Installs the print callback: libbpf calls it with (level, fmt, va_list); libc's
 * vsnprintf formats it, first measuring on a copy of the va_list (va_copy is a plain
 * struct copy on x86-64 and AArch64), so even a multi-megabyte verifier log is kept whole
 * up to its last lines. On other architectures a 64 KiB buffer keeps the first part only.
 */
function routeLibbpfPrint(lib: LibraryHandle, log: LibbpfLog): void {
  const printFn = koffi.proto('int libbpf_print_fn(int level, void *fmt, void *args)');
  const setPrint = lib.func('libbpf_set_print', 'void *', [koffi.pointer(printFn)]) as (fn: unknown) => unknown;
  const libc = koffi.load('libc.so.6');
  const vsnprintf = libc.func('int vsnprintf(void *buf, size_t size, void *fmt, void *args)') as (
    buf: Buffer | null,
    size: number,
    fmt: unknown,
    args: unknown,
  ) => number;
  const vaListBytes = VA_LIST_BYTES[process.arch];
  const callback = koffi.register((level: number, fmt: unknown, args: unknown): number => {
    if (level >= LIBBPF_DEBUG) return 0;
    let size = 64 * 1024;
    if (vaListBytes !== undefined) {
      const copy = Buffer.from(koffi.view(args, vaListBytes).slice(0));
      size = vsnprintf(null, 0, fmt, copy) + 1;
      if (size <= 0) return 0;
    }
    const buf = Buffer.alloc(size);
    const written = vsnprintf(buf, size, fmt, args);
    if (written > 0) log.append(buf.toString('utf8', 0, Math.min(written, size - 1)));
    return 0;
  }, koffi.pointer(printFn));
  // The callback stays registered for the life of the process, as libbpf keeps the pointer.
  setPrint(callback);
}

let cached: Libbpf | undefined;
let loadError: Error | undefined;

/** Loads libbpf.so.1 once; throws an Error naming the library and the Debian package. */
export function libbpf(): Libbpf {
  if (cached) return cached;
  if (loadError) throw loadError;
  let lib: LibraryHandle;
  try {
    lib = koffi.load(LIBBPF_SONAME);
  } catch (err) {
    loadError = new Error(`cannot load ${LIBBPF_SONAME} (install the Debian package libbpf1)`, { cause: err });
    throw loadError;
  }
  const sampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');
  const f = (decl: string): ((...args: never[]) => unknown) => lib.func(decl) as (...args: never[]) => unknown;
  const fns = {
    bpf_object__open_file: f('void *bpf_object__open_file(const char *path, const void *opts)'),
    bpf_object__load: f('int bpf_object__load(void *obj)'),
    bpf_object__close: f('void bpf_object__close(void *obj)'),
    bpf_object__find_program_by_name: f('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    bpf_object__find_map_by_name: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    bpf_object__next_program: f('void *bpf_object__next_program(void *obj, void *prev)'),
    bpf_program__name: f('const char *bpf_program__name(void *prog)'),
    bpf_program__set_autoload: f('int bpf_program__set_autoload(void *prog, bool autoload)'),
    bpf_program__attach: f('void *bpf_program__attach(void *prog)'),
    bpf_program__attach_cgroup: f('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    bpf_program__fd: f('int bpf_program__fd(void *prog)'),
    bpf_link__destroy: f('int bpf_link__destroy(void *link)'),
    bpf_map__fd: f('int bpf_map__fd(void *map)'),
    bpf_map__set_max_entries: f('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
    bpf_map__value_size: f('uint32_t bpf_map__value_size(void *map)'),
    bpf_map__key_size: f('uint32_t bpf_map__key_size(void *map)'),
    bpf_map__max_entries: f('uint32_t bpf_map__max_entries(void *map)'),
    bpf_map_lookup_elem: f('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
    bpf_map_update_elem: f('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
    bpf_map_delete_elem: f('int bpf_map_delete_elem(int fd, void *key)'),
    bpf_map_lookup_batch: f(
      'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, void *count, const void *opts)',
    ),
    ring_buffer__new: lib.func('ring_buffer__new', 'void *', ['int', koffi.pointer(sampleFn), 'void *', 'void *']) as (
      ...args: never[]
    ) => unknown,
    ring_buffer__consume: f('int ring_buffer__consume(void *rb)'),
    ring_buffer__epoll_fd: f('int ring_buffer__epoll_fd(void *rb)'),
    ring_buffer__free: f('void ring_buffer__free(void *rb)'),
    libbpf_strerror: f('int libbpf_strerror(int err, void *buf, size_t size)'),
    btf__load_vmlinux_btf: f('void *btf__load_vmlinux_btf()'),
    btf__find_by_name_kind: f('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)'),
    btf__free: f('void btf__free(void *btf)'),
    libbpf_major_version: f('uint32_t libbpf_major_version()'),
    bpf_obj_get_info_by_fd: f('int bpf_obj_get_info_by_fd(int fd, void *info, void *info_len)'),
    bpf_prog_get_fd_by_id: f('int bpf_prog_get_fd_by_id(uint32_t id)'),
    libbpf_minor_version: f('uint32_t libbpf_minor_version()'),
  };
  const log = new LibbpfLog();
  routeLibbpfPrint(lib, log);
  cached = {
    ...(fns as unknown as LibbpfFunctions),
    logMark: () => log.mark(),
    logSince: (mark) => log.since(mark),
    errno: () => koffi.errno(),
    registerSampleCallback: (fn) => koffi.register(fn, koffi.pointer(sampleFn)),
    unregisterCallback: (cb) => koffi.unregister(cb as bigint),
    readBytes: (ptr, size) => Buffer.from(koffi.view(ptr, size).slice(0)),
    pollReadable: (fd, onReadable) => {
      // koffi 3.3 calls back with (status, events), not the (events) its typings say;
      // consuming is non-blocking, so any wake-up simply drains the ring.
      const handle = koffi.node.poll(fd, { readable: true }, () => onReadable());
      return { stop: () => handle.close(), unref: () => handle.unref() };
    },
  };
  return cached;
}

/** libbpf's text for a (positive or negative) errno, e.g. "Operation not permitted". */
export function libbpfStrerror(err: number): string {
  const buf = Buffer.alloc(256);
  libbpf().libbpf_strerror(Math.abs(err), buf, buf.length);
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end === -1 ? buf.length : end);
}
