import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { errorMessage } from '../errors.js';

/**
 * dbt's `catalog.json` (written by `dbt docs generate`): the columns and types of every
 * relation as the warehouse reported them then. Only what validate needs is read.
 */
const catalogSchema = z.looseObject({
  nodes: z.record(
    z.string(),
    z.looseObject({
      columns: z.record(
        z.string(),
        z.looseObject({ name: z.string().nullish(), type: z.string().nullish() }),
      ),
    }),
  ),
});

export interface CatalogColumn {
  readonly name: string;
  readonly type: string | undefined;
}

export interface Catalog {
  readonly display: string;
  /** Columns by node unique_id. */
  readonly nodes: ReadonlyMap<string, readonly CatalogColumn[]>;
}

/** The catalog, undefined when there is none; a problem (and undefined) when it cannot be used. */
export async function readCatalog(path: string, display: string, problems: string[]): Promise<Catalog | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    problems.push(`${display}: cannot be read: ${errorMessage(error)}`);
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problems.push(`${display}: is not valid JSON (${errorMessage(error)}); run \`dbt docs generate\` to write it again, or delete it`);
    return undefined;
  }
  const parsed = catalogSchema.safeParse(json);
  if (!parsed.success) {
    problems.push(`${display}: is not a dbt catalog.json (no nodes with columns); run \`dbt docs generate\` to write it again, or delete it`);
    return undefined;
  }
  const nodes = new Map<string, CatalogColumn[]>();
  for (const [id, node] of Object.entries(parsed.data.nodes)) {
    nodes.set(
      id,
      Object.entries(node.columns).map(([key, column]) => ({ name: column.name ?? key, type: column.type ?? undefined })),
    );
  }
  return { display, nodes };
}
