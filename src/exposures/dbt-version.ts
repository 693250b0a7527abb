/**
 * dbt's own version strings are not strict semver: `1.10.6`, `1.5.0rc1`, `1.5.0b5`,
 * `1.11.0a1`, `2.0.0-beta.3`, even the literal `PREVIOUS` in dbt's test fixtures. Only the
 * major and minor numbers decide anything here.
 */
export interface DbtVersion {
  readonly major: number;
  readonly minor: number;
}

export function parseDbtVersion(text: string | undefined): DbtVersion | undefined {
  if (!text) return undefined;
  const match = /^\s*v?(\d+)\.(\d+)/.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

export function isAtLeast(version: DbtVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/**
 * dbt 1.10 made exposure `meta` and `tags` configs: they belong under `config:` (top-level
 * use is deprecated, and dbt Fusion's YAML schema rejects it). Older versions read them only
 * at the top level. An unknown version gets the top level, which every dbt 1.x reads.
 */
export function metaUnderConfig(version: DbtVersion | undefined): boolean {
  return version !== undefined && isAtLeast(version, 1, 10);
}

/** dbt before 1.5 requires `owner.email`; from 1.5 on, a name or an email will do. */
export function ownerEmailRequired(version: DbtVersion | undefined): boolean {
  return version !== undefined && !isAtLeast(version, 1, 5);
}
