import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readYamlFile } from '../config/yaml-file.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Project } from '../project/load-project.js';
import { SYNC_META_KEY, buildExposures, type Exposure } from './build.js';
import { unifiedDiff } from './diff.js';
import { renderExposuresFile } from './render.js';

export const DEFAULT_EXPOSURES_FILE = 'activate_exposures.yml';

export interface WriteExposuresOptions {
  /** The file to write; relative paths resolve against the current directory. Default: `<first model path>/activate_exposures.yml` in the project. */
  readonly output?: string;
  /** Compare only: never write. */
  readonly check?: boolean;
}

export interface WriteExposuresResult {
  readonly path: string;
  /** The path as shown to the user (relative to the project when inside it). */
  readonly display: string;
  /** The file's data differs from what activate would write (or the file is missing). */
  readonly changed: boolean;
  /** The file was written (changed and not --check). */
  readonly written: boolean;
  /** Unified diff from the file on disk to what activate writes; empty when unchanged. */
  readonly diff: string;
  readonly exposures: number;
  /** Things the user should know, e.g. that dbt will not read a file outside the model paths. */
  readonly warnings: readonly string[];
}

/**
 * `activate exposures`: writes one dbt exposure per sync into the exposures file, keeping
 * everything else in it. Writes only when the data changed, and never with `check`.
 */
export async function writeExposures(project: Project, options: WriteExposuresOptions = {}): Promise<WriteExposuresResult> {
  const modelPaths = await readModelPaths(project.dbt.dir);
  const cwd = project.options.cwd ?? process.cwd();
  const path = options.output ? resolve(cwd, options.output) : join(project.dbt.dir, modelPaths[0] ?? 'models', DEFAULT_EXPOSURES_FILE);
  const display = displayPath(project.dbt.dir, path);

  const warnings: string[] = [];
  const underModelPath = modelPaths.some((p) => isInside(resolve(project.dbt.dir, p), path));
  if (!underModelPath) {
    warnings.push(
      `${display} is not under the project's model paths (${modelPaths.join(', ')}), so dbt will not read the exposures in it`,
    );
  }

  const existing = await readIfExists(path, display);
  const exposures = buildExposures(project);
  warnings.push(...elsewhereInProject(project, exposures, display));
  if (existing === undefined && exposures.length === 0) {
    return { path, display, changed: false, written: false, diff: '', exposures: 0, warnings };
  }
  const text = renderExposuresFile(existing, exposures, { dbtVersion: project.manifest.dbtVersion, display });
  const changed = text !== existing;
  const side = (prefix: string) => (isAbsolute(display) ? display : `${prefix}/${display}`);
  const diff = changed ? unifiedDiff(existing ?? '', text, existing === undefined ? '/dev/null' : side('a'), side('b')) : '';
  let written = false;
  if (changed && !options.check) {
    await writeAtomically(path, text, display);
    written = true;
  }
  return { path, display, changed, written, diff, exposures: exposures.length, warnings };
}

/**
 * Exposures of the same name in other files of the project (as the last `dbt parse` saw them):
 * dbt refuses duplicate names, so say so before `dbt parse` does.
 */
function elsewhereInProject(project: Project, exposures: readonly Exposure[], display: string): string[] {
  const ours = new Map(exposures.map((e) => [e.name, e]));
  const out: string[] = [];
  for (const resource of Object.values(project.manifest.exposures ?? {})) {
    const exposure = resource.name ? ours.get(resource.name) : undefined;
    const file = resource.original_file_path?.split(sep).join('/');
    if (!exposure || !file || file === display) continue;
    const raw = resource as { meta?: Record<string, unknown>; config?: Record<string, unknown> | null };
    const configMeta = raw.config?.meta as Record<string, unknown> | undefined;
    const mine = configMeta?.[SYNC_META_KEY] !== undefined || raw.meta?.[SYNC_META_KEY] !== undefined;
    out.push(
      mine
        ? `${file} already holds activate's exposure "${exposure.name}" (as of the last dbt parse): use --output ${file}, or delete that file, or dbt will refuse the duplicate name`
        : `${file} has an exposure named "${exposure.name}" (as of the last dbt parse), the name of the exposure for sync "${exposure.syncId}": rename one, or dbt will refuse the duplicate name`,
    );
  }
  return out;
}

/** `model-paths` of dbt_project.yml (`source-paths` before dbt 1.0), default `models`. */
async function readModelPaths(projectDir: string): Promise<string[]> {
  const file = await readYamlFile(join(projectDir, 'dbt_project.yml'), 'dbt_project.yml');
  const data = (file?.data ?? {}) as Record<string, unknown>;
  const paths = data['model-paths'] ?? data['source-paths'];
  if (Array.isArray(paths)) {
    const strings = paths.filter((p): p is string => typeof p === 'string' && p !== '');
    if (strings.length > 0) return strings;
  }
  return ['models'];
}

async function readIfExists(path: string, display: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${display}: cannot be read: ${errorMessage(error)}`, { cause: error });
  }
}

async function writeAtomically(path: string, text: string, display: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(temporary, text, 'utf8');
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new ConfigError(`${display}: cannot be written: ${errorMessage(error)}`, { cause: error });
  }
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function displayPath(projectDir: string, path: string): string {
  const rel = relative(projectDir, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel.split(sep).join('/');
}
