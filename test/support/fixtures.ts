/**
 * Where the shared test inputs live. The repository is cloned with `shared/` beside it (here
 * and in CI), so the fixtures are always `../shared/fixtures` from the repository root.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const fixturesDir = resolve(repoRoot, '../shared/fixtures');
export const manifestsDir = join(fixturesDir, 'manifests');
export const exampleProjectDir = join(repoRoot, 'dbt_example');

if (!existsSync(manifestsDir)) {
  throw new Error(`shared fixtures not found at ${manifestsDir}; clone the repository with shared/ beside it`);
}

/** A fresh directory under the OS temp dir, and a function that removes it. */
export function makeTempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `activate-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
