/**
 * Every error the library throws on purpose is an ActivateError. Only the CLI entry turns
 * them into exit codes: 2 for bad input (nothing was sent), 1 for a failed sync.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_CANCELLED = 130;

export class ActivateError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.exitCode = options.exitCode ?? EXIT_FAILED;
  }
}

/** Bad input in a file the user wrote or dbt generated. `problems` are "file: path: message". */
export class ConfigError extends ActivateError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[] | string, options: { cause?: unknown } = {}) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'), { ...options, exitCode: EXIT_BAD_INPUT });
    this.problems = list;
  }
}

/** The model's data cannot be synced as it is (null or duplicate keys, missing columns). */
export class DataError extends ActivateError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: EXIT_BAD_INPUT });
  }
}

/** The warehouse refused or could not be reached. */
export class WarehouseError extends ActivateError {}

/** Another run holds the sync's lease. */
export class LockedError extends ActivateError {}

/**
 * A destination failed as a whole (not one record): bad credentials, a hard quota, a
 * misconfigured endpoint. The sync stops; what was already accepted stays committed.
 */
export class DestinationError extends ActivateError {
  readonly status: number | undefined;
  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, { cause: options.cause, exitCode: EXIT_FAILED });
    this.status = options.status;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
