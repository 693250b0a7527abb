import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { didYouMean } from '../suggest.js';
import { locate } from '../config/issues.js';
import { readYamlFile, type YamlFile } from '../config/yaml-file.js';
import { renderDeep, renderString, describeTemplateError, type RenderOptions, type TemplateError } from '../config/render.js';

export interface ProfileTarget {
  /** The profiles.yml that was used, as shown to the user. */
  readonly file: string;
  readonly profile: string;
  readonly target: string;
  /** The selected output, rendered (env_var and filters applied). */
  readonly output: Readonly<Record<string, unknown>>;
}

export interface ProfileLookup {
  readonly profilesDir?: string;
  readonly profile?: string;
  readonly target?: string;
  readonly projectDir: string;
  readonly projectProfile: string | undefined;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly render: RenderOptions;
  readonly home?: string;
}

/**
 * Finds profiles.yml as dbt does: `--profiles-dir`, DBT_PROFILES_DIR, the current directory,
 * `~/.dbt/`; then the project directory, a convenience dbt does not offer.
 */
export function profilesCandidates(lookup: ProfileLookup): string[] {
  const explicit = lookup.profilesDir ?? lookup.env.DBT_PROFILES_DIR;
  if (explicit) return [resolve(lookup.cwd, explicit, 'profiles.yml')];
  return [
    resolve(lookup.cwd, 'profiles.yml'),
    join(lookup.home ?? homedir(), '.dbt', 'profiles.yml'),
    join(lookup.projectDir, 'profiles.yml'),
  ];
}

export async function resolveProfileTarget(lookup: ProfileLookup): Promise<ProfileTarget> {
  const candidates = profilesCandidates(lookup);
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new ConfigError(
      `profiles.yml: not found (looked in ${candidates.join(', ')}); pass --profiles-dir or set DBT_PROFILES_DIR.`,
    );
  }
  const file = (await readYamlFile(path, path)) as YamlFile;
  const profiles = asRecord(file.data);
  if (!profiles) throw new ConfigError(`${file.display}: must be a mapping of profile names`);

  const profileName = lookup.profile ?? lookup.env.DBT_PROFILE ?? lookup.projectProfile;
  if (!profileName) {
    throw new ConfigError('dbt_project.yml: profile: is not set and no --profile was given');
  }
  const available = Object.keys(profiles).filter((k) => k !== 'config');
  const profile = asRecord(profiles[profileName]);
  if (!profile) {
    throw new ConfigError(
      `${file.display}: profile "${profileName}" not found${didYouMean(profileName, available)}; profiles in this file: ${available.join(', ') || '(none)'}`,
    );
  }
  const outputs = asRecord(profile.outputs);
  if (!outputs) throw new ConfigError(`${file.display}: ${profileName}.outputs: is required`);

  let targetName = lookup.target ?? lookup.env.DBT_TARGET;
  if (!targetName) {
    const declared = profile.target;
    if (typeof declared === 'string') {
      try {
        targetName = String(renderString(declared, lookup.render, [profileName, 'target']));
      } catch (error) {
        throw new ConfigError(describeTemplateError(file.display, error as TemplateError) + locate(file.source, (error as TemplateError).path));
      }
    } else {
      targetName = 'default';
    }
  }
  const output = asRecord(outputs[targetName]);
  if (!output) {
    throw new ConfigError(
      `${file.display}: target "${targetName}" not found in profile "${profileName}"${didYouMean(targetName, Object.keys(outputs))}; targets: ${Object.keys(outputs).join(', ') || '(none)'}`,
    );
  }
  // Only the selected output is rendered, so unset variables in other targets do not matter.
  const problems: TemplateError[] = [];
  const rendered = renderDeep(output, lookup.render, problems, [profileName, 'outputs', targetName]);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => describeTemplateError(file.display, p) + locate(file.source, p.path)));
  return { file: file.display, profile: profileName, target: targetName, output: rendered as Record<string, unknown> };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
