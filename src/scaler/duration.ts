/**
 * Durations as users write them in trigger metadata and flags: "500ms", "30s", "2m", "1h",
 * or a bare number of seconds ("30"). Returns milliseconds, or undefined when malformed.
 */
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? 's']!;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Shortest human form of a whole number of milliseconds: 30000 -> "30s", 120000 -> "2m". */
export function formatDurationMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
