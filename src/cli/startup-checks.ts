import { closeSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../config/flags.js';
import { ScalerAddressError, parseScalerAddresses } from '../stream/scaler-endpoints.js';

/**
 * Checks of flag values that need more than a schema (a file's content, a list's entries),
 * run before any kernel or network I/O so a typo never attaches eBPF programs or dials a
 * server first. Each failure is one UsageError sentence naming flag, value and remedy.
 */

/** `--scaler` entries parse as HOST:PORT with a port 1-65535. */
export function checkScalerList(value: string): void {
  try {
    parseScalerAddresses(value);
  } catch (err) {
    if (!(err instanceof ScalerAddressError)) throw err;
    throw new UsageError(`--scaler ${value}: ${err.message}; give HOST:PORT[,HOST:PORT...], e.g. keda-ebpf-scaler.keda-ebpf-scaler.svc:9090`, { cause: err });
  }
}

/** ELF e_machine of eBPF objects. */
const EM_BPF = 247;

/** `--bpf-object` is a readable little-endian ELF file built for the BPF machine. */
export function checkBpfObject(path: string): void {
  const remedy = 'build it with `npm run build:bpf` or give the path of scaler.bpf.o (in the image: /app/build/bpf/scaler.bpf.o)';
  const header = Buffer.alloc(20);
  let read = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      read = readSync(fd, header, 0, header.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new UsageError(`--bpf-object ${path}: cannot read it (${code}); ${remedy}`, { cause: err });
  }
  if (read < header.length || header.readUInt32BE(0) !== 0x7f454c46) throw new UsageError(`--bpf-object ${path}: not an ELF object file; ${remedy}`);
  const machine = header[5] === 1 ? header.readUInt16LE(18) : header.readUInt16BE(18);
  if (machine !== EM_BPF) throw new UsageError(`--bpf-object ${path}: an ELF object for machine ${machine}, not eBPF (${EM_BPF}); ${remedy}`);
}

/** The one sentence of an error for users: its message, without the stack. */
export function oneSentence(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
