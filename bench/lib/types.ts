/** What every case gets and returns. */
export interface CaseContext {
  readonly quick: boolean;
  /** `--minutes N`: cases that measure a plateau (ingest) run this long instead of their default. */
  readonly minutes?: number;
  /** Progress lines go to stderr; figures are returned. */
  log(message: string): void;
}

/** Free-form notes shown in latest.md beside the figures (run conditions, extra figures). */
export type CaseNotes = Record<string, string | number | boolean | null>;
