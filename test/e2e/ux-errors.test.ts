import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

/** Typos are fixed from the error message alone: a "did you mean", and the file, line and column. */
let receiver: WebhookReceiver;
let project: ExampleProject;
const MARTS = 'models/marts/marts.yml';

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml());
});

afterEach(async () => {
  expect(receiver.deliveries).toHaveLength(0); // a typo never sends anything
  await receiver.close();
  await project.cleanup();
});

/** Edits the model YAML as a user would, then does what `dbt parse` does with it (the activations into the manifest). */
async function editModelYaml(edit: (text: string) => string): Promise<string> {
  const path = join(project.dir, MARTS);
  const text = edit(await readFile(path, 'utf8'));
  await writeFile(path, text);
  const yaml = parseDocument(text).toJS() as { models: { name: string; config?: { meta?: { activation?: unknown } } }[] };
  const manifestPath = join(project.dir, 'target', 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  for (const model of yaml.models) manifest.nodes[`model.jaffle_activate.${model.name}`].config.meta.activation = model.config?.meta?.activation;
  await writeFile(manifestPath, JSON.stringify(manifest));
  return text;
}

/** "(line L, column C)" of the first occurrence of `needle` in `text` (column of its first character). */
function position(text: string, needle: string, offset = 0): string {
  const at = text.indexOf(needle) + offset;
  const before = text.slice(0, at).split('\n');
  return `(line ${before.length}, column ${before.at(-1)!.length + 1})`;
}

describe('did you mean', () => {
  it('a misspelt column, in plan and in validate', async () => {
    await editModelYaml((t) => t.replace('churn_risk: churn_risk', 'churn_risk: churn_rsk'));
    const plan = await project.cli('plan');
    expect(plan.code).toBe(2);
    expect(plan.stderr).toContain(
      `${MARTS}: customer_scores: meta.activation.fields.churn_risk: column "churn_rsk" does not exist in "warehouse"."main"."customer_scores" (did you mean "churn_risk"?)`,
    );
    const validate = await project.cli('validate');
    expect(validate.code).toBe(2);
    expect(validate.stdout).toContain('customer_scores/crm_contacts: fields.churn_risk: column "churn_rsk" does not exist');
    expect(validate.stdout).toContain('(did you mean "churn_risk"?)');
  });

  it('a misspelt destination, with the line and column in the model YAML', async () => {
    const yaml = await editModelYaml((t) => t.replace('destination: crm_webhook', 'destination: crm_webhok'));
    const run = await project.cli('run');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `${MARTS}: customer_scores: meta.activation.destination: unknown destination "crm_webhok" (did you mean "crm_webhook"?); ` +
        `destinations in activate.yml: crm_webhook ${position(yaml, 'crm_webhok')}`,
    );
  });

  it('a misspelt key of meta.activation, with the line and column', async () => {
    const yaml = await editModelYaml((t) => t.replace('primary_key: customer_id\n          identifier', 'primary_kye: customer_id\n          identifier'));
    const run = await project.cli('plan');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${MARTS}: customer_scores: meta.activation: unknown key "primary_kye" (did you mean "primary_key"?) ${position(yaml, 'primary_kye')}`);
    expect(run.stderr).toContain(`${MARTS}: customer_scores: meta.activation: primary_key: is required ${position(yaml, 'name: crm_contacts')}`);
    // A typo of a connector option too (the webhook knows `object`).
    await editModelYaml((t) => t.replace('primary_kye: customer_id', 'primary_key: customer_id\n          objct: contacts'));
    const again = await project.cli('plan');
    expect(again.stderr).toMatch(/meta\.activation: unknown key "objct" \(did you mean "object"\?\) \(line \d+, column \d+\)/);
  });

  it('misspelt keys and types in activate.yml, each with its line and column', async () => {
    await project.writeActivateYml(
      [
        'destinations:',
        '  crm_webhook:',
        '    type: webhook',
        "    url: \"{{ env_var('ACTIVATE_WEBHOOK_URL') }}\"",
        '    batchsize: 5',
        '    retry: { atempts: 3 }',
        '  other:',
        '    type: webhok',
        'stat: { schema: activate }',
        '',
      ].join('\n'),
    );
    const run = await project.cli('plan');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('activate.yml: unknown key "stat" (did you mean "state"?) (line 9, column 1)');
    const second = await (async () => {
      await project.writeActivateYml(
        ['destinations:', '  crm_webhook:', '    type: webhook', '    url: "https://crm.example.com/in"', '    batchsize: 5', '    retry: { atempts: 3 }', '  other:', '    type: webhok', ''].join('\n'),
      );
      return project.cli('plan');
    })();
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('activate.yml: destinations.crm_webhook: unknown key "batchsize" (did you mean "batch_size"?) (line 5, column 5)');
    expect(second.stderr).toContain('activate.yml: destinations.crm_webhook.retry: unknown key "atempts" (did you mean "attempts"?) (line 6, column 14)');
    expect(second.stderr).toContain('activate.yml: destinations.other.type: unknown destination type "webhok" (did you mean "webhook"?)');
  });

  it('a misspelt sync id, in --select, status and reset', async () => {
    const plan = await project.cli('plan', '-s', 'crm_contcts');
    expect(plan.stderr).toContain('The selection criterion "crm_contcts" does not match any sync (did you mean "crm_contacts"?)');
    const reset = await project.cli('reset', 'crm_contcts', '--yes');
    expect(reset.code).toBe(2);
    expect(reset.stderr).toContain('activate reset: no sync "crm_contcts" in this project (did you mean "crm_contacts"?)');
  });

  it('misspelt selectors: a method, a model, a tag', async () => {
    const method = await project.cli('plan', '-s', 'tagg:nightly');
    expect(method.code).toBe(2);
    expect(method.stderr).toContain('"tagg" is not a selector method (did you mean "tag"?)');
    const model = await project.cli('ls', '-s', '+customer_score');
    expect(model.stderr).toContain('(did you mean "+customer_scores"?)');
  });

  it('a misspelt profile target, command and flag', async () => {
    const target = await project.cli('plan', '-t', 'dve');
    expect(target.code).toBe(2);
    expect(target.stderr).toMatch(/target "dve" not found in profile "jaffle_activate" \(did you mean "dev"\?\)/);
    const command = await project.cli('pla');
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('(Did you mean plan?)');
    expect(command.stderr).toContain('(run with --help for usage)');
    const flag = await project.cli('run', '--selct', 'crm_contacts');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('(Did you mean --select?)');
  });
});
