// Errors that end the CLI: one line naming the culprit and the fix, and the exit code to use.

/** Exit codes, gunicorn's where gunicorn has one. */
export const EXIT = {
  OK: 0,
  /** Could not bind, or another runtime failure of the arbiter. */
  FAILURE: 1,
  /** Bad command line or configuration: nothing was started. */
  USAGE: 2,
  /** A worker could not boot. */
  WORKER_BOOT: 3,
  /** The app could not be imported. */
  APP_LOAD: 4,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.USAGE,
  ) {
    super(message);
  }
}
