import fs from 'node:fs';

/**
 * The inode that names a network namespace, as the kernel's net->ns.inum (what the BPF
 * programs compare): stat() of /run/netns/NAME (a bind mount of the nsfs file) or of
 * /proc/PID/ns/net gives it.
 */
export function netnsInode(path: string): number {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch (err) {
    throw new Error(`network namespace ${path}: ${(err as NodeJS.ErrnoException).code ?? 'cannot stat'}`, { cause: err });
  }
  return stat.ino;
}

/** Accepts a netns name ("blue" -> /run/netns/blue), a pid ("1234") or a path. */
export function netnsPath(spec: string): string {
  if (spec.startsWith('/')) return spec;
  if (/^\d+$/.test(spec)) return `/proc/${spec}/ns/net`;
  return `/run/netns/${spec}`;
}
