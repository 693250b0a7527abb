import { z } from 'zod';
import { templateProblems } from './template.js';

/** One file per batch under `path`: `<sync>/<run start>-<run id>-<operation>-<part>.csv`. */
export const DEFAULT_FILE_NAME = '{{ sync }}/{{ timestamp }}-{{ run_id }}-{{ operation }}-{{ part }}';

/** The file entry in activate.yml. */
export const fileConfigSchema = z
  .strictObject({
    type: z.literal('file'),
    /** Directory the files go under (created when missing); relative to the current directory. */
    path: z.string().min(1),
    format: z.enum(['csv', 'jsonl']).default('csv'),
    /** Relative to path; `/` makes subdirectories. The extension (.csv, .jsonl, .gz) is added. */
    file_name: z.string().min(1).default(DEFAULT_FILE_NAME),
    /** per_operation: upserts and deletes in separate files. single: one kind of file, with an operation column. */
    layout: z.enum(['per_operation', 'single']).default('per_operation'),
    /** Name of the operation column (layout: single). */
    operation_column: z.string().min(1).default('operation'),
    gzip: z.boolean().default(false),
    /** Most records per file: each batch becomes one complete file. */
    batch_size: z.number().int().min(1).max(1_000_000).default(10_000),
  })
  .superRefine((config, ctx) => {
    for (const message of templateProblems(config.file_name, config.layout)) {
      ctx.addIssue({ code: 'custom', path: ['file_name'], message });
    }
  });

export type FileConfig = z.output<typeof fileConfigSchema>;

/** Connector options in meta.activation: none (the file name template has `{{ sync }}`). */
export const fileOptionsSchema = z.strictObject({});

export type FileOptions = z.output<typeof fileOptionsSchema>;
