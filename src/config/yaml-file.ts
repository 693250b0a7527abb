import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, errorMessage } from '../errors.js';
import type { YamlSource } from './issues.js';

export interface YamlFile {
  readonly path: string;
  /** Path as shown to the user (relative to the project where possible). */
  readonly display: string;
  readonly data: unknown;
  readonly source: YamlSource;
}

/** Reads and parses a YAML file; syntax errors name the file, line and column. */
export async function readYamlFile(path: string, display: string): Promise<YamlFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${display}: cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  return parseYamlText(text, path, display);
}

export function parseYamlText(text: string, path: string, display: string): YamlFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        const where = pos ? ` (line ${pos.line}, column ${pos.col})` : '';
        return `${display}: invalid YAML: ${e.message.split('\n')[0]}${where}`;
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(`${display}: invalid YAML: ${errorMessage(error)}`, { cause: error });
  }
  return { path, display, data, source: { doc, lines } };
}
