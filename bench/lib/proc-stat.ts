import fs from 'node:fs';

/**
 * CPU time and memory of another process from /proc (the benchmark measures processes it
 * started, so the measuring code itself is never part of the figure).
 */

const CLOCK_TICKS_PER_S = 100; // USER_HZ: fixed at 100 on Linux for /proc/PID/stat

/** utime + stime of a process in ms (children not included). */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_S;
}

/** Resident set size in MB (VmRSS). */
export function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Samples a process's CPU share (of one core) and peak RSS between start() and stop(). */
export class ProcessMeter {
  private startCpu = 0;
  private startWall = 0;
  private peakRss = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pid: number) {}

  start(sampleMs = 250): void {
    this.startCpu = cpuMs(this.pid);
    this.startWall = performance.now();
    this.peakRss = rssMb(this.pid);
    this.timer = setInterval(() => {
      try {
        this.peakRss = Math.max(this.peakRss, rssMb(this.pid));
      } catch {
        // process gone: stop() reports what was seen
      }
    }, sampleMs);
  }

  /** cpuShare: CPU seconds per wall second (1 = one full core). */
  stop(): { cpuShare: number; peakRssMb: number; wallMs: number; cpuMs: number } {
    clearInterval(this.timer);
    const wallMs = performance.now() - this.startWall;
    const used = cpuMs(this.pid) - this.startCpu;
    this.peakRss = Math.max(this.peakRss, rssMb(this.pid));
    return { cpuShare: used / wallMs, peakRssMb: this.peakRss, wallMs, cpuMs: used };
  }
}
