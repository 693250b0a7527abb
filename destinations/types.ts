import type { ZodType } from 'zod';
import type { HttpClient } from '../src/http/types.js';
import type { Logger } from '../src/logger.js';

/** What the user asked a sync to do with the model's rows. */
export type Mode = 'upsert' | 'update' | 'create' | 'mirror' | 'audience';

/** One record leaving the warehouse. `fields` are destination field names -> values. */
/** What the destination is asked to do with a record that left the model (mirror mode). */
export type OnDelete = 'delete' | 'archive' | 'clear' | 'ignore';

export interface Change {
  /** `archive` for removed records of a sync with `on_delete: archive`. */
  readonly operation: 'upsert' | 'delete' | 'archive';
  /** added | changed | removed, as the planner classified it. */
  readonly kind: 'added' | 'changed' | 'removed';
  /** The record's primary key rendered as text (a JSON array for composite keys). */
  readonly key: string;
  /** Row hash of the mapped values; for a delete, the hash last sent. */
  readonly hash: string;
  /** Mapped values to send; for a delete, the values last sent. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Identifier fields (destination match field -> value), also present in `fields`' source row. */
  readonly identifier: Readonly<Record<string, unknown>>;
  /** Values last sent for this record (changed and removed records), else null. */
  readonly previous: Readonly<Record<string, unknown>> | null;
  /** Id the destination gave this record on an earlier run, when it gave one. */
  readonly destinationId: string | null;
}

export type RecordResult =
  | { readonly key: string; readonly status: 'synced'; readonly destinationId?: string }
  | { readonly key: string; readonly status: 'skipped'; readonly reason: string }
  | {
      readonly key: string;
      readonly status: 'failed';
      readonly message: string;
      readonly retryable: boolean;
      /** The destination's own error code, when it gives one (e.g. VALIDATION_ERROR). */
      readonly code?: string;
    };

export interface DestinationLimits {
  /** Most records in one write() call. */
  readonly batchSize: number;
  /** write() calls in flight at once for one sync. */
  readonly concurrency: number;
  /** Requests allowed per `perSeconds` for one destination account. */
  readonly requests: number;
  readonly perSeconds: number;
}

export interface WriteContext {
  readonly syncId: string;
  readonly runId: string;
  readonly mode: Mode;
  readonly signal?: AbortSignal;
}

export interface Destination<Options> {
  /**
   * Sends one batch (all records share one operation) and returns one result per record.
   * Throws DestinationError when the whole sync must stop (credentials refused, hard quota,
   * endpoint gone); records already accepted stay committed.
   */
  write(batch: readonly Change[], options: Options, context: WriteContext): Promise<readonly RecordResult[]>;
  /**
   * `activate validate --online`: asks the destination whether the mapped fields exist and can
   * take the values; returns one message per problem (empty when all is well). Sends no data.
   */
  checkMapping?(fields: readonly MappedField[], options: Options): Promise<readonly string[]>;
  close?(): Promise<void>;
}

/** A mapped destination field, with what is known about the model column feeding it. */
export interface MappedField {
  readonly field: string;
  readonly column: string;
  /** The column's warehouse type when known (manifest data_type, catalog or the warehouse). */
  readonly columnType: string | undefined;
  readonly isIdentifier: boolean;
}

export interface DestinationContext {
  readonly http: HttpClient;
  readonly log: Logger;
  /** Name of the destination in activate.yml, for messages. */
  readonly name: string;
  /** The directory relative paths in the destination's config resolve against (as dbt: the working directory). */
  readonly cwd: string;
}

export interface DestinationDefinition<Config, Options> {
  readonly type: string;
  /** The activate.yml entry (credentials, endpoints, limits). */
  readonly config: ZodType<Config>;
  /** Connector options in meta.activation (object, ...). */
  readonly options: ZodType<Options>;
  readonly modes: readonly Mode[];
  /**
   * True when the destination applies a partial record as an update of just those fields, so a
   * changed record can carry only its changed fields (`update_fields: changed` by default).
   */
  readonly partialUpdates?: boolean;
  /** What it can do with a removed record (mirror mode); `delete` when not declared. */
  readonly onDelete?: readonly OnDelete[];
  /** Keys of `config` whose values are secrets, redacted wherever they could be printed. */
  readonly secretKeys: readonly string[];
  limits(config: Config): DestinationLimits;
  /** A link to the synced object in the destination's UI, for dbt exposures (`url:`). */
  url?(config: Config, options: Options): string | undefined;
  create(config: Config, context: DestinationContext): Destination<Options>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDestinationDefinition = DestinationDefinition<any, any>;
