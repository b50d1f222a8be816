import { constants } from 'node:os';
import { libbpfStrerror } from './libbpf.js';

/** Loader steps, in order (open -> configure -> load -> attach -> read -> close). */
export type BpfStep = 'load-library' | 'open' | 'configure' | 'load' | 'attach' | 'map-read' | 'map-write' | 'ring-buffer';

/** A libbpf failure: which step, on what, and the errno with libbpf's text for it. */
export class BpfError extends Error {
  override readonly name = 'BpfError';
  constructor(
    readonly step: BpfStep,
    readonly subject: string,
    /** Positive errno (EPERM = 1, ...). */
    readonly errno: number,
    options?: { cause?: unknown },
  ) {
    super(`${step} ${subject} failed: ${describeErrno(errno)} (errno ${errno})`, options);
  }
}

export const { EPERM, ENOENT, E2BIG, ENOMEM, EACCES, EINVAL, ENOSPC, EOPNOTSUPP } = constants.errno;
/** Kernel-internal "operation not supported" (include/linux/errno.h); no userspace name, so not in os.constants. */
export const ENOTSUPP = 524;

function describeErrno(errno: number): string {
  try {
    return libbpfStrerror(errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** libbpf returns -errno (1.x); some calls return -1 and set errno. */
export function errnoOf(ret: number, fallbackErrno: number): number {
  if (ret < -1) return -ret;
  return fallbackErrno > 0 ? fallbackErrno : Math.abs(ret);
}
