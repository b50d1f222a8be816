/** What every case gets and returns. */
export interface CaseContext {
  readonly quick: boolean;
  /** Progress lines go to stderr; figures are returned. */
  log(message: string): void;
}

/** Free-form notes shown in latest.md beside the figures (run conditions, extra figures). */
export type CaseNotes = Record<string, string | number | boolean | null>;
