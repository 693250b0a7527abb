import { readFile } from 'node:fs/promises';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * A dbt JSON artifact, parsed: undefined when the file does not exist; bad JSON is a ConfigError
 * (exit 2) naming the file and saying how to get a good one (`remedy`).
 */
export async function readJsonArtifact(path: string, displayPath: string, remedy: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${displayPath}: cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`${displayPath}: is not valid JSON (${errorMessage(error)}). ${remedy}`, { cause: error });
  }
}
