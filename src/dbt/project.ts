import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { formatZodIssues, locate } from '../config/issues.js';
import { readYamlFile } from '../config/yaml-file.js';
import { renderDeep, describeTemplateError, type RenderOptions, type TemplateError } from '../config/render.js';

const projectSchema = z.looseObject({
  name: z.string(),
  profile: z.string().optional(),
  'target-path': z.string().optional(),
});

export interface DbtProject {
  readonly dir: string;
  readonly name: string;
  readonly profile: string | undefined;
  /** Absolute directory holding dbt's artifacts. */
  readonly targetPath: string;
}

/** `--project-dir` / DBT_PROJECT_DIR, else the nearest directory at or above cwd with dbt_project.yml. */
export function findProjectDir(explicit: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const given = explicit ?? env.DBT_PROJECT_DIR;
  if (given) {
    const dir = resolve(cwd, given);
    if (!existsSync(join(dir, 'dbt_project.yml'))) {
      throw new ConfigError(`${join(given, 'dbt_project.yml')}: not found; --project-dir must point at a dbt project.`);
    }
    return dir;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'dbt_project.yml'))) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new ConfigError(
    `dbt_project.yml: not found in ${cwd} or any parent directory; run activate inside a dbt project or pass --project-dir.`,
  );
}

export async function readDbtProject(
  dir: string,
  options: { targetPath?: string; env: NodeJS.ProcessEnv; render: RenderOptions },
): Promise<DbtProject> {
  const file = await readYamlFile(join(dir, 'dbt_project.yml'), 'dbt_project.yml');
  if (!file) throw new ConfigError(`dbt_project.yml: not found in ${dir}`);
  const problems: TemplateError[] = [];
  const rendered = renderDeep(file.data, options.render, problems);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => describeTemplateError(file.display, p) + locate(file.source, p.path)));
  const parsed = projectSchema.safeParse(rendered);
  if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error, file.display, { source: file.source }));
  const targetPath = options.targetPath ?? options.env.DBT_TARGET_PATH ?? parsed.data['target-path'] ?? 'target';
  return {
    dir,
    name: parsed.data.name,
    profile: parsed.data.profile,
    targetPath: resolve(dir, targetPath),
  };
}
