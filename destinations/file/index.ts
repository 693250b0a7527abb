import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { DestinationError, errorMessage } from '../../src/errors.js';
import type { Change, Destination, DestinationContext, DestinationDefinition, RecordResult, WriteContext } from '../types.js';
import { fileConfigSchema, fileOptionsSchema, type FileConfig, type FileOptions } from './config.js';
import { encodeBatch } from './encode.js';
import { dateStamp, renderFileName, timeStamp } from './template.js';

export type { FileConfig, FileOptions } from './config.js';

const gzip = promisify(gzipCallback);
/** Errors that mean the directory cannot be written at all: stop the sync. Anything else is retried next run. */
const FATAL_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EINVAL', 'ELOOP']);
/** link(2) not offered by the file system: fall back to a checked rename. */
const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);
const MAX_NAME_ATTEMPTS = 1000;

/**
 * Writes each batch of changes as one complete CSV or JSON Lines file.
 *
 * Nothing is acknowledged that is not in a visible, complete, durable file: a batch is written
 * to a hidden temporary file in the target directory, fsynced, then given its final name with
 * link(2) (which never replaces an existing file) and the directory fsynced; only then does
 * write() report the records as synced. A crash before that leaves at most a hidden
 * `.<name>.<random>.tmp` file whose records were not acknowledged and are written again by
 * the next run.
 */
class FileDestination implements Destination<FileOptions> {
  readonly #config: FileConfig;
  readonly #name: string;
  readonly #directory: string;
  /** Next part number per file name stem. */
  readonly #parts = new Map<string, number>();
  /** When each run (as this destination first saw it) started: {{ date }} and {{ timestamp }}. */
  readonly #runStarts = new Map<string, Date>();

  constructor(config: FileConfig, context: DestinationContext) {
    this.#config = config;
    this.#name = context.name;
    this.#directory = resolve(context.cwd, config.path);
  }

  async write(batch: readonly Change[], _options: FileOptions, context: WriteContext): Promise<readonly RecordResult[]> {
    if (batch.length === 0) return [];
    const single = this.#config.layout === 'single';
    const operationColumn = single ? this.#config.operation_column : undefined;
    if (operationColumn !== undefined && batch.some((change) => Object.hasOwn(change.fields, operationColumn))) {
      throw new DestinationError(
        `file destination "${this.#name}": a mapped field is named "${operationColumn}", like the operation column; ` +
          `set operation_column to another name`,
      );
    }
    const text = encodeBatch(batch, { format: this.#config.format, operationColumn });
    const content = this.#config.gzip ? await gzip(Buffer.from(text, 'utf8')) : Buffer.from(text, 'utf8');

    const operation = single ? 'changes' : batch[0]!.operation;
    let path: string;
    try {
      path = await this.#publish(content, context, operation);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const message = `cannot write under ${this.#directory}: ${errorMessage(error)}`;
      if (error instanceof DestinationError) throw error;
      if (code !== undefined && FATAL_CODES.has(code)) {
        throw new DestinationError(`file destination "${this.#name}": ${message}`, { cause: error });
      }
      return batch.map((change) => ({ key: change.key, status: 'failed', message, retryable: true, ...(code ? { code } : {}) }));
    }
    return batch.map((change) => ({ key: change.key, status: 'synced', destinationId: relative(this.#directory, path).split(sep).join('/') }));
  }

  /** Writes one complete file and gives it its final name; returns that name. */
  async #publish(content: Buffer, context: WriteContext, operation: string): Promise<string> {
    const started = this.#runStarts.get(context.runId) ?? new Date();
    this.#runStarts.set(context.runId, started);
    const values = { sync: context.syncId, run_id: context.runId, date: dateStamp(started), timestamp: timeStamp(started), operation };
    const extension = `.${this.#config.format}${this.#config.gzip ? '.gz' : ''}`;
    const stem = renderFileName(this.#config.file_name, { ...values, part: '\u0000' });

    for (let attempt = 0; attempt < MAX_NAME_ATTEMPTS; attempt++) {
      const part = (this.#parts.get(stem) ?? 0) + 1;
      this.#parts.set(stem, part);
      const name = stem.replaceAll('\u0000', String(part).padStart(5, '0'));
      const target = this.#inside(name.endsWith(extension) ? name : `${name}${extension}`);
      const folder = dirname(target);
      await makeDirectory(folder);
      const temporary = join(folder, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        await writeDurably(temporary, content);
        if (await giveName(temporary, target)) {
          await syncDirectory(folder);
          return target;
        }
      } finally {
        await unlink(temporary).catch(() => undefined);
      }
      // A file of that name exists (another run in the same second, say): never replace it, take the next part.
    }
    throw new Error(`no free file name for ${stem.replace('\u0000', '*')} after ${MAX_NAME_ATTEMPTS} attempts`);
  }

  /** The absolute path of a rendered name, which must stay under the directory. */
  #inside(name: string): string {
    const target = resolve(this.#directory, name);
    const rel = relative(this.#directory, target);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new DestinationError(`file destination "${this.#name}": file name "${name}" leads outside ${this.#directory}`);
    }
    return target;
  }

  async checkMapping(): Promise<readonly string[]> {
    // The nearest existing directory must be writable; nothing is created.
    let folder = this.#directory;
    for (;;) {
      try {
        await access(folder, constants.W_OK);
        return [];
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return [`${folder} is not writable: ${errorMessage(error)}`];
        const parent = dirname(folder);
        if (parent === folder) return [`${this.#directory} cannot be created`];
        folder = parent;
      }
    }
  }
}

async function writeDurably(path: string, content: Buffer): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Gives `temporary` the name `target` unless a file has it already (false then). Never replaces a file. */
async function giveName(temporary: string, target: string): Promise<boolean> {
  try {
    await link(temporary, target);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === undefined || !NO_LINK_CODES.has(code)) throw error;
  }
  // No hard links here (some network and FUSE file systems): rename, after checking the name is free.
  try {
    await access(target);
    return false;
  } catch {
    await rename(temporary, target);
    return true;
  }
}

/** mkdir -p, fsyncing the parent of every directory it created so that the new names survive a crash. */
async function makeDirectory(folder: string): Promise<void> {
  const first = await mkdir(folder, { recursive: true });
  if (first === undefined) return;
  const created: string[] = [];
  for (let dir = folder; ; dir = dirname(dir)) {
    created.push(dir);
    if (dir === first || dirname(dir) === dir) break;
  }
  for (const dir of created) await syncDirectory(dirname(dir));
}

/** fsync a directory so a new entry in it is durable; not possible on every platform (Windows), where it is skipped. */
async function syncDirectory(folder: string): Promise<void> {
  let handle;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // EISDIR / EPERM on platforms without directory fsync
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Writes each run's changes as CSV or JSON Lines files, one complete file per batch. */
export const file: DestinationDefinition<FileConfig, FileOptions> = {
  type: 'file',
  config: fileConfigSchema,
  options: fileOptionsSchema,
  modes: ['upsert', 'create', 'mirror'],
  // clear (mapped fields set to null) and ignore are shaped by the engine into an upsert or nothing.
  onDelete: ['delete', 'clear', 'ignore'],
  secretKeys: [],
  limits: (config) => ({
    batchSize: config.batch_size,
    // One batch at a time: parts are numbered in the order the changes were planned (deletes first).
    concurrency: 1,
    requests: 1_000_000,
    perSeconds: 1,
  }),
  create: (config, context) => new FileDestination(config, context),
};

export default file;

