/**
 * Writes the generated docs: docs/json-output.md from the zod schema of `--format json`.
 * `npm run docs`; test/cli/json-output.test.ts fails when the committed file differs.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderJsonOutputDoc } from '../src/cli/json-output-doc.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const path = join(root, 'docs', 'json-output.md');
await writeFile(path, renderJsonOutputDoc(), 'utf8');
process.stdout.write(`wrote ${path}\n`);
