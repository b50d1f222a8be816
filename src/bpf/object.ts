import { BpfError, ENOENT, errnoOf } from './errors.js';
import { libbpf, type Pointer } from './libbpf.js';
import { BpfMap } from './map.js';

/**
 * A BPF object file through its libbpf life cycle: open -> configure (autoload, map
 * sizes) -> load -> attach -> maps -> close. Every failure is a BpfError naming the step
 * and the program or map; a failed open, load or attach carries what libbpf printed
 * meanwhile (the verifier's log for a load).
 */
export class BpfObject {
  private obj: Pointer | null;
  private readonly links: { program: string; link: Pointer }[] = [];
  private loaded = false;

  private constructor(
    readonly path: string,
    obj: Pointer,
  ) {
    this.obj = obj;
  }

  static open(path: string): BpfObject {
    const lib = libbpf();
    const mark = lib.logMark();
    const obj = lib.bpf_object__open_file(path, null);
    if (obj === null) throw new BpfError('open', path, lib.errno(), { libbpfLog: lib.logSince(mark) });
    return new BpfObject(path, obj);
  }

  private handle(): Pointer {
    if (this.obj === null) throw new Error(`BPF object ${this.path} is closed`);
    return this.obj;
  }

  private program(name: string): Pointer {
    const prog = libbpf().bpf_object__find_program_by_name(this.handle(), name);
    if (prog === null) throw new BpfError('configure', `program ${name} (not in ${this.path})`, ENOENT);
    return prog;
  }

  /** Names of every program in the object. */
  programNames(): string[] {
    const lib = libbpf();
    const names: string[] = [];
    for (let prog = lib.bpf_object__next_program(this.handle(), null); prog !== null; prog = lib.bpf_object__next_program(this.handle(), prog)) {
      names.push(lib.bpf_program__name(prog));
    }
    return names;
  }

  /** Before load: exactly these programs load; every other one stays out of the kernel. */
  loadOnly(programs: readonly string[]): void {
    for (const name of this.programNames()) this.setAutoload(name, programs.includes(name));
  }

  /** Before load: whether a program is loaded at all (the hook ladder's losers are not). */
  setAutoload(program: string, autoload: boolean): void {
    const ret = libbpf().bpf_program__set_autoload(this.program(program), autoload);
    if (ret !== 0) throw new BpfError('configure', `autoload of ${program}`, errnoOf(ret, libbpf().errno()));
  }

  /** Before load: resize a map (e.g. shrink an unused rung's map to one entry). */
  setMaxEntries(map: string, maxEntries: number): void {
    const lib = libbpf();
    const ptr = lib.bpf_object__find_map_by_name(this.handle(), map);
    if (ptr === null) throw new BpfError('configure', `map ${map} (not in ${this.path})`, ENOENT);
    const ret = lib.bpf_map__set_max_entries(ptr, maxEntries);
    if (ret !== 0) throw new BpfError('configure', `max_entries of ${map}`, errnoOf(ret, lib.errno()));
  }

  /** Creates the maps and loads every autoload program through the verifier. */
  load(): void {
    const lib = libbpf();
    const mark = lib.logMark();
    const ret = lib.bpf_object__load(this.handle());
    if (ret !== 0) throw new BpfError('load', this.path, errnoOf(ret, lib.errno()), { libbpfLog: lib.logSince(mark) });
    this.loaded = true;
  }

  /** Attaches a loaded program to the hook named by its SEC(); detached by close(). */
  attach(program: string): void {
    const lib = libbpf();
    const mark = lib.logMark();
    const link = lib.bpf_program__attach(this.program(program));
    if (link === null) throw new BpfError('attach', `program ${program}`, lib.errno(), { libbpfLog: lib.logSince(mark) });
    this.links.push({ program, link });
  }

  /**
   * Attaches a loaded cgroup program (cgroup_skb, cgroup/connect4, ...) to the cgroup v2
   * directory open as cgroupFd, as a link (BPF_F_ALLOW_MULTI semantics: other programs on
   * the cgroup keep running); detached by close(), or by the kernel when this process dies.
   */
  attachCgroup(program: string, cgroupFd: number): void {
    const lib = libbpf();
    const link = lib.bpf_program__attach_cgroup(this.program(program), cgroupFd);
    if (link === null) throw new BpfError('attach', `program ${program} to a cgroup`, lib.errno());
    this.links.push({ program, link });
  }

  /** Detaches one program's links (the program stays loaded and can be attached again). */
  detach(program: string): void {
    const lib = libbpf();
    const kept = this.links.filter((l) => l.program !== program);
    for (const { link } of this.links.filter((l) => l.program === program)) lib.bpf_link__destroy(link);
    this.links.splice(0, this.links.length, ...kept);
  }

  get attachedPrograms(): string[] {
    return this.links.map((l) => l.program);
  }

  /** The kernel fd of a loaded program (for bpf_stats figures). */
  programFd(program: string): number {
    return libbpf().bpf_program__fd(this.program(program));
  }

  /** The kernel id of a loaded program (struct bpf_prog_info.id, at offset 4). */
  programId(program: string): number {
    const lib = libbpf();
    const info = Buffer.alloc(256);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(info.length);
    const ret = lib.bpf_obj_get_info_by_fd(this.programFd(program), info, len);
    if (ret !== 0) throw new BpfError('map-read', `info of program ${program}`, errnoOf(ret, lib.errno()));
    return info.readUInt32LE(4);
  }

  map(name: string): BpfMap {
    if (!this.loaded) throw new Error(`map ${name}: load ${this.path} first`);
    const lib = libbpf();
    const ptr = lib.bpf_object__find_map_by_name(this.handle(), name);
    if (ptr === null) throw new BpfError('map-read', `map ${name} (not in ${this.path})`, ENOENT);
    return new BpfMap(name, lib.bpf_map__fd(ptr), lib.bpf_map__key_size(ptr), lib.bpf_map__value_size(ptr), lib.bpf_map__max_entries(ptr));
  }

  /** Detaches every link and frees the object (its maps go with the last fd). */
  close(): void {
    if (this.obj === null) return;
    const lib = libbpf();
    for (const { link } of this.links.splice(0)) lib.bpf_link__destroy(link);
    lib.bpf_object__close(this.obj);
    this.obj = null;
  }
}
