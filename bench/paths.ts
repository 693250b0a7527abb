import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/bench: where the compiled benchmark (and its child-process scripts) live. */
export const benchDist = dirname(fileURLToPath(import.meta.url));
/** The repository root (dist/bench/../..). */
export const repoRoot = resolve(benchDist, '..', '..');
/** bench/ in the sources: RESULTS.md and results.json are written here. */
export const benchSource = join(repoRoot, 'bench');
