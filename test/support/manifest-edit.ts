import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

type Activation = Record<string, unknown>;

/** Edits the meta.activation of a model in a project's target/manifest.json (config.meta and meta alike). */
export async function editActivation(projectDir: string, model: string, edit: (activation: Activation) => Activation): Promise<void> {
  const path = join(projectDir, 'target', 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8')) as {
    nodes: Record<string, { name: string; resource_type: string; meta?: Activation; config: { meta: Activation } }>;
  };
  const node = Object.values(manifest.nodes).find((n) => n.resource_type === 'model' && n.name === model);
  if (!node) throw new Error(`no model ${model} in ${path}`);
  const current = node.config.meta.activation;
  const next = Array.isArray(current) ? current.map((a: Activation) => edit(a)) : edit(current as Activation);
  node.config.meta.activation = next;
  if (node.meta) node.meta.activation = next;
  await writeFile(path, JSON.stringify(manifest));
}
