import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonReportSchema } from '../../src/cli/json-output.js';
import { fixedScenario, normaliseJson, normaliseText, schemaErrors, type Scenario } from '../cli/support.js';

/**
 * The outputs of `activate plan` and `activate run` for one fixed scenario (see fixedScenario):
 * snapshots of the human summary, the Markdown plan and the JSON, checked against the schema
 * documented in docs/json-output.md, and the GitHub Actions job summary.
 */
let scenario: Scenario;

beforeEach(async () => {
  scenario = await fixedScenario();
});

afterEach(async () => {
  await scenario.close();
});

const SNAPSHOTS = './__snapshots__/ux-output';

describe('activate plan', () => {
  it('prints a table with samples and the Done. line (human summary snapshot)', async () => {
    const sent = scenario.receiver.deliveries.length;
    const plan = await scenario.project.cli('plan');
    expect(plan.code, plan.stderr).toBe(1); // a sync blocked, another skipped
    await expect(normaliseText(plan.stdout)).toMatchFileSnapshot(`${SNAPSHOTS}/plan.txt`);
    expect(plan.stdout).toMatch(/crm_contacts\s+upsert\s+\+1 ~1 -0/);
    expect(plan.stdout).toContain('plan: "pro" -> "enterprise"');
    expect(plan.stdout).toContain('Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3');
    expect(scenario.receiver.deliveries).toHaveLength(sent);
  });

  it('--format markdown is a pull-request-ready report (snapshot)', async () => {
    const plan = await scenario.project.cli('plan', '--format', 'markdown');
    expect(plan.code, plan.stderr).toBe(1);
    await expect(plan.stdout).toMatchFileSnapshot(`${SNAPSHOTS}/plan.md`);
    const md = plan.stdout;
    expect(md.startsWith('<!-- activate:plan -->\n')).toBe(true);
    expect(md).toContain('| ✅ | `crm_contacts` | `customer_scores` | `crm_webhook` (webhook) | upsert | 1 | 1 | 0 | PLANNED |');
    expect(md).toContain('#### `crm_webhook` (webhook)');
    expect(md).toContain('| ~ | `3` | plan: `"pro"` → `"enterprise"` |');
    expect(md).toMatch(/Would stop at a safety limit[\s\S]*3 changes exceed safety\.max\\_changes \(1\)/);
    expect(md).toMatch(/skipped by dbt's verdict: test .*not\\_null\\_at\\_risk\\_customers\\_customer\\_id.* failed/);
    expect(md.trimEnd().endsWith('`Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3`')).toBe(true);
  });

  it('--format json matches the snapshot and the schema documented in docs/json-output.md', async () => {
    const plan = await scenario.project.cli('plan', '--format', 'json');
    expect(plan.code, plan.stderr).toBe(1);
    const report = JSON.parse(plan.stdout);
    expect(await schemaErrors(report)).toEqual([]);
    expect(jsonReportSchema.safeParse(report).success).toBe(true);
    await expect(normaliseJson(plan.stdout)).toMatchFileSnapshot(`${SNAPSHOTS}/plan.json`);
    expect(report.syncs.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      ['crm_contacts', 'planned'],
      ['plan_changes', 'blocked'],
      ['at_risk_customers__crm_webhook', 'skipped'],
    ]);
    const changed = report.syncs[0].samples.find((s: { kind: string }) => s.kind === 'changed');
    expect(changed).toMatchObject({ key: '3', before: { plan: 'pro' }, after: { plan: 'enterprise' }, changedFields: ['plan'] });
    // --json is the same document.
    const same = await scenario.project.cli('plan', '--json');
    expect(normaliseJson(same.stdout)).toBe(normaliseJson(plan.stdout));
  });

  it('--samples 0 leaves sample records out (for public repositories)', async () => {
    const plan = await scenario.project.cli('plan', '--format', 'markdown', '--samples', '0');
    expect(plan.stdout).not.toContain('Sample changes');
    expect(plan.stdout).not.toContain('zoe.martin@example.com');
  });
});

describe('activate run', () => {
  it('prints the summary table and the Done. line (snapshot)', async () => {
    const run = await scenario.project.cli('run');
    expect(run.code, run.stderr).toBe(1);
    await expect(normaliseText(run.stdout)).toMatchFileSnapshot(`${SNAPSHOTS}/run.txt`);
    expect(run.stdout).toMatch(/^sync\s+mode\s+changes\s+delivered\s+rejected\s+skipped\s+time\s+result$/m);
    expect(run.stdout).toMatch(/crm_contacts\s+upsert\s+\+1 ~1 -0\s+2\s+0\s+0\s+\d+\.\ds\s+OK$/m);
    expect(run.stdout).toMatch(/plan_changes\s+mirror\s+\+1 ~1 -1\s+0\s+0\s+0\s+-\s+BLOCKED$/m);
    expect(run.stdout).toMatch(/at_risk_customers__crm_webhook\s+mirror\s+-\s+-\s+-\s+-\s+-\s+SKIPPED \(dbt's verdict\)$/m);
    expect(run.stdout).toContain('Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3');
  });

  it('--format json validates against the documented schema and matches the snapshot; GITHUB_STEP_SUMMARY gets the Markdown', async () => {
    const summary = join(scenario.project.dir, 'step-summary.md');
    scenario.project.env.GITHUB_STEP_SUMMARY = summary;
    const run = await scenario.project.cli('run', '--format', 'json');
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(await schemaErrors(report)).toEqual([]);
    await expect(normaliseJson(run.stdout)).toMatchFileSnapshot(`${SNAPSHOTS}/run.json`);
    expect(report.syncs[0]).toMatchObject({ id: 'crm_contacts', status: 'success', delivered: 2, run: { succeeded: { added: 1, changed: 1, removed: 0 } } });
    expect(report.exitCode).toBe(1);

    const markdown = await readFile(summary, 'utf8');
    expect(markdown.startsWith('<!-- activate:run -->\n### `activate run`: 3 syncs, +2 ~2 -1\n')).toBe(true);
    expect(markdown).toMatch(/\| ✅ \| `crm_contacts` \| .* \| 2 \| 0 \| \d+\.\ds \| OK \|/);
    expect(markdown).toContain('`Done. PASS=1 WARN=0 ERROR=1 SKIP=1 TOTAL=3`');

    // A second command appends below the first.
    await scenario.project.cli('plan', '-s', 'crm_contacts');
    const both = await readFile(summary, 'utf8');
    expect(both.startsWith(markdown)).toBe(true);
    expect(both.slice(markdown.length)).toMatch(/^<!-- activate:plan -->\n### `activate plan -s crm_contacts`: 1 sync, \+0 ~0 -0 planned\n/);
  });

  it('bad input also lands in the job summary, and nothing else is written there without GITHUB_STEP_SUMMARY', async () => {
    const summary = join(scenario.project.dir, 'step-summary.md');
    scenario.project.env.GITHUB_STEP_SUMMARY = summary;
    await scenario.project.sql('ALTER TABLE main.customer_scores RENAME COLUMN churn_risk TO churn_rsk');
    const run = await scenario.project.cli('run', '-s', 'crm_contacts');
    expect(run.code).toBe(2);
    const markdown = await readFile(summary, 'utf8');
    expect(markdown).toContain('### activate run: stopped before sending anything');
    expect(markdown).toContain('(did you mean "churn_rsk"?)');
    expect(markdown).toMatch(/^```text\nError:\n {2}nothing was sent; fix these first:\n/m);
  });
});
