import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exposureRuleProblems } from '../support/exposure-rules.js';
import { editActivation } from '../support/manifest-edit.js';
import { makeExampleProject, webhookActivateYml, type ExampleProject } from '../support/example-project.js';

const FILE = 'models/activate_exposures.yml';

let project: ExampleProject;

beforeEach(async () => {
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: 'https://hooks.example.com/crm/t0ken-in-the-path' });
  await project.writeActivateYml(webhookActivateYml() + 'defaults:\n  owner: { name: Data team, email: data@example.com }\n');
});

afterEach(async () => {
  await project.cleanup();
});

async function written(path = join(project.dir, FILE)): Promise<{ text: string; data: { version?: number; exposures: Record<string, unknown>[]; models?: unknown } }> {
  const text = await readFile(path, 'utf8');
  return { text, data: parse(text) };
}

describe('activate exposures', () => {
  it('writes one exposure per sync that dbt can read, then finds the file up to date', async () => {
    const first = await project.cli('exposures');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`Wrote 2 exposures to ${FILE}; \`dbt parse\` (or dbt build / dbt docs generate) puts them in dbt's lineage.\n`);

    const { text, data } = await written();
    expect(exposureRuleProblems(data, { major: 1, minor: 10 })).toEqual([]);
    const [atRisk, contacts] = data.exposures;
    expect(contacts).toMatchObject({
      name: 'activate_crm_contacts',
      label: 'crm_contacts (customer_scores to crm_webhook)',
      type: 'application',
      maturity: 'medium',
      depends_on: ["ref('customer_scores')"],
      owner: { name: 'Growth', email: 'growth@example.com' },
      config: { meta: { activate_sync: 'crm_contacts', activate_destination: 'crm_webhook', activate_mode: 'upsert' }, tags: ['activate'] },
    });
    expect(contacts!.description).toContain('- `email` from column `email` (identifier)');
    expect(atRisk).toMatchObject({
      name: 'activate_at_risk_customers__crm_webhook',
      depends_on: ["ref('at_risk_customers')"],
      owner: { name: 'Data team', email: 'data@example.com' },
      config: { meta: { activate_sync: 'at_risk_customers__crm_webhook', activate_mode: 'mirror' } },
    });
    // The webhook's url is a secret: it is neither the exposure's url nor anywhere in the file.
    expect(contacts).not.toHaveProperty('url');
    expect(text).not.toContain('t0ken');

    const mtime = (await stat(join(project.dir, FILE))).mtimeMs;
    const second = await project.cli('exposures');
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`${FILE} is up to date (2 exposures).\n`);
    expect((await written()).text).toBe(text);
    expect((await stat(join(project.dir, FILE))).mtimeMs).toBe(mtime);

    const check = await project.cli('exposures', '--check');
    expect(check.code).toBe(0);
    expect(check.stdout).toBe(`${FILE} is up to date (2 exposures).\n`);
  });

  it('--check exits 1 with a diff when the file is missing or stale, and writes nothing', async () => {
    const missing = await project.cli('exposures', '--check');
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^--- \/dev\/null\n\+\+\+ b\/models\/activate_exposures\.yml\n@@ -0,0 \+1,\d+ @@\n/);
    expect(missing.stdout).toContain('+  - name: activate_crm_contacts\n');
    expect(missing.stdout.trimEnd().split('\n').pop()).toBe(`${FILE} is out of date: run \`activate exposures\` to update it (2 exposures).`);
    expect(existsSync(join(project.dir, FILE))).toBe(false);

    expect((await project.cli('exposures')).code).toBe(0);
    const before = (await written()).text;
    await editActivation(project.dir, 'customer_scores', (a) => ({ ...a, mode: 'mirror', fields: { ...(a.fields as object), churn_risk: 'churn_risk', plan: 'plan_name' } }));
    const stale = await project.cli('exposures', '--check');
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain(`--- a/${FILE}\n+++ b/${FILE}\n@@ `);
    expect(stale.stdout).toContain('\n-      - `plan` from column `plan`\n+      - `plan` from column `plan_name`\n');
    expect(stale.stdout).toContain('\n-        activate_mode: upsert\n+        activate_mode: mirror\n');
    expect((await written()).text).toBe(before);

    const json = await project.cli('exposures', '--check', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ file: FILE, changed: true, written: false, stale: true, exposures: 2, diff: expect.stringContaining('+        activate_mode: mirror') });

    expect((await project.cli('exposures')).code).toBe(0);
    expect((await project.cli('exposures', '--check')).code).toBe(0);
  });

  it("keeps exposures it did not write, the file's comments and other keys; drops its own for removed syncs", async () => {
    const foreign = [
      '# Hand-written exposures live here too.',
      'version: 2',
      '',
      'exposures:',
      '  - name: revenue_dashboard # the CFO looks at this',
      '    label: Revenue',
      '    type: dashboard',
      '    maturity: high',
      '    url: https://bi.example.com/dashboards/7',
      '    owner: { name: Finance, email: finance@example.com }',
      "    depends_on: [\"ref('customer_scores')\"]",
      '  - name: activate_old_sync',
      '    type: application',
      '    owner: { name: x }',
      "    depends_on: [\"ref('customer_scores')\"]",
      '    config: { meta: { activate_sync: old_sync }, tags: [activate] }',
      '',
    ].join('\n');
    await mkdir(join(project.dir, 'models'), { recursive: true });
    await writeFile(join(project.dir, FILE), foreign);

    const run = await project.cli('exposures');
    expect(run.code).toBe(0);
    const { text, data } = await written();
    expect(data.exposures.map((e) => e.name)).toEqual(['revenue_dashboard', 'activate_at_risk_customers__crm_webhook', 'activate_crm_contacts']);
    expect(data.exposures[0]).toEqual((parse(foreign) as { exposures: unknown[] }).exposures[0]);
    expect(text).toContain('# Hand-written exposures live here too.');
    expect(text).toContain('# the CFO looks at this');
    expect(exposureRuleProblems(data, { major: 1, minor: 10 })).toEqual([]);
    expect((await project.cli('exposures', '--check')).code).toBe(0);
  });

  it('--output writes elsewhere, and warns when dbt would not read that file', async () => {
    const outside = await project.cli('exposures', '--output', 'exposures.yml');
    expect(outside.code).toBe(0);
    expect(outside.stderr).toContain("exposures.yml is not under the project's model paths (models), so dbt will not read the exposures in it");
    expect((await written(join(project.dir, 'exposures.yml'))).data.exposures).toHaveLength(2);

    const inside = await project.cli('exposures', '--output', 'models/marts/syncs.yml');
    expect(inside.code).toBe(0);
    expect(inside.stderr).toBe('');
    expect(inside.stdout).toContain('Wrote 2 exposures to models/marts/syncs.yml');
    expect(existsSync(join(project.dir, FILE))).toBe(false);
  });

  it('a sync without an owner is bad input (exit 2) naming where to set one', async () => {
    await project.writeActivateYml(webhookActivateYml());
    const run = await project.cli('exposures');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'models/marts/marts.yml: at_risk_customers: meta.activation[0].owner: a dbt exposure needs an owner; set owner: { name: ..., email: ... } here, meta.owner on the model, or defaults.owner in activate.yml',
    );
    expect(existsSync(join(project.dir, FILE))).toBe(false);
  });
});
