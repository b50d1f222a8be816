import type { Report } from '../proto/generated/kedaebpf/collector/v1/Report.js';

/**
 * The last reports sent, kept so a scaler that was briefly unreachable gets what it missed
 * (Welcome.last_sequence says where it stopped). One backlog serves every scaler: reports
 * are identical for all of them, so each connection only remembers the next sequence it
 * owes its scaler. Bounded in count and in (estimated) bytes; the oldest go first.
 */
export interface BacklogLimits {
  readonly maxReports: number;
  readonly maxBytes: number;
}

/**
 * 120 reports = 2 minutes at a 1 s tick (30 s at 250 ms): longer than a scaler restart or a
 * rolling update takes, shorter than KEDA's default 30 s poll x a few. 8 MiB caps memory
 * when many targets with wide histograms make each report large.
 */
export const DEFAULT_BACKLOG_LIMITS: BacklogLimits = { maxReports: 120, maxBytes: 8 * 1024 * 1024 };

/** A report with its sequence as a plain number (the wire type allows Long/string). */
export interface SequencedReport {
  readonly sequence: number;
  readonly report: Report;
  readonly bytes: number;
}

export class ReportBacklog {
  private readonly items: SequencedReport[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(private readonly limits: BacklogLimits = DEFAULT_BACKLOG_LIMITS) {}

  /** Appends a report; sequences must increase by one. Evicts the oldest beyond the limits. */
  push(sequence: number, report: Report): void {
    const last = this.lastSequence;
    if (last !== 0 && sequence !== last + 1) throw new Error(`backlog sequence ${sequence} does not follow ${last}`);
    const bytes = estimateReportBytes(report);
    this.items.push({ sequence, report, bytes });
    this.totalBytes += bytes;
    // Always keep the newest report even if it alone exceeds maxBytes: it is the one to send.
    while (this.size > 1 && (this.size > this.limits.maxReports || this.totalBytes > this.limits.maxBytes)) {
      this.totalBytes -= this.items[this.head]!.bytes;
      this.head++;
    }
    // Compact the array now and then instead of shifting on every eviction.
    if (this.head > 1024 || (this.head > 0 && this.head * 2 > this.items.length)) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Oldest sequence still held; 0 when empty. */
  get firstSequence(): number {
    return this.size === 0 ? 0 : this.items[this.head]!.sequence;
  }

  /** Newest sequence held; 0 when empty. */
  get lastSequence(): number {
    return this.size === 0 ? 0 : this.items[this.items.length - 1]!.sequence;
  }

  /** The report with this sequence, or undefined when evicted or not yet produced. */
  get(sequence: number): SequencedReport | undefined {
    const first = this.firstSequence;
    if (this.size === 0 || sequence < first || sequence > this.lastSequence) return undefined;
    return this.items[this.head + (sequence - first)];
  }
}

/**
 * Rough protobuf size: a few bytes per varint field, ~6 per sparse bucket. Only used to
 * bound memory, so within a factor of two is good enough and costs nothing to compute.
 */
export function estimateReportBytes(report: Report): number {
  let bytes = 32;
  for (const t of report.targets ?? []) {
    bytes += 48 + (t.target_id?.length ?? 0) + 6 * (t.bucket_index?.length ?? 0);
  }
  return bytes;
}
