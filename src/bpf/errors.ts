import { constants } from 'node:os';
import { libbpfStrerror } from './libbpf.js';

/** Loader steps, in order (open -> configure -> load -> attach -> read -> close). */
export type BpfStep = 'load-library' | 'open' | 'configure' | 'load' | 'attach' | 'map-read' | 'map-write' | 'ring-buffer';

export const { EPERM, ENOENT, E2BIG, ENOMEM, EACCES, EINVAL, ENOSPC, EOPNOTSUPP } = constants.errno;
/** The kernel-internal ENOTSUPP some BPF commands return (include/linux/errno.h; not in libc). */
export const ENOTSUPP = 524;

/** A libbpf failure: which step, on what, and the errno with libbpf's text for it. */
export class BpfError extends Error {
  override readonly name = 'BpfError';
  constructor(
    readonly step: BpfStep,
    readonly subject: string,
    /** Positive errno (EPERM = 1, ...). */
    readonly errno: number,
    options?: {
      cause?: unknown;
      /** What libbpf printed during the failed step (the verifier's log for a load). */
      libbpfLog?: string;
    },
  ) {
    const summary = options?.libbpfLog ? verifierSummary(options.libbpfLog) : '';
    super(`${step} ${subject} failed: ${describeErrno(errno)} (errno ${errno})${summary ? `; libbpf: ${summary}` : ''}`, options);
    this.libbpfLog = options?.libbpfLog ?? '';
  }

  /** The tail of libbpf's output for this step (verifier log included), '' when none. */
  readonly libbpfLog: string;
}

/** True for the errnos a full map answers an insert with. */
export function isMapFull(err: unknown): boolean {
  return err instanceof BpfError && (err.errno === E2BIG || err.errno === ENOSPC || err.errno === ENOMEM);
}

const SUMMARY_LINES = 4;
/** libbpf's lines after a failure that add nothing to its first (the ulimit hint is moot since 5.11). */
const LIBBPF_FOLLOW_UPS = [/^failed to load object /, /^prog '[^']+': failed to load: -?\d+$/, /^permission error while running as root/];
const SUMMARY_CHARS = 600;

/**
 * The lines of a libbpf log that say why a load failed: the failing program's "BPF program
 * load failed" line and the verifier's last lines before "-- END PROG LOAD LOG --" (the
 * verdict, e.g. "R1 unbounded memory access"), else libbpf's last lines.
 */
export function verifierSummary(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.replace(/^libbpf: /, '').trim())
    .filter((l) => l.length > 0 && !LIBBPF_FOLLOW_UPS.some((re) => re.test(l)));
  const end = lines.findIndex((l) => l.includes('-- END PROG LOAD LOG --'));
  const failed = lines.find((l) => /BPF program load failed/.test(l));
  let picked: string[];
  if (end > 0) {
    const begin = lines.findLastIndex((l, i) => i < end && l.includes('-- BEGIN PROG LOAD LOG --'));
    const verifier = lines.slice(Math.max(begin + 1, end - SUMMARY_LINES), end).filter((l) => !/^(processed|verification time) /.test(l));
    picked = failed ? [failed, ...verifier] : verifier;
  } else {
    picked = lines.slice(-SUMMARY_LINES);
  }
  const text = picked.join(' | ');
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 3)}...` : text;
}

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
