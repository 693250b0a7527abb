import { afterEach, beforeEach, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

const TOKEN = 'tok_9f8e7d6c5b4a3210-super-secret';

let receiver: WebhookReceiver;
let project: ExampleProject;

beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url, CRM_TOKEN: TOKEN });
  const yml = webhookActivateYml({ extra: `    headers: { Authorization: "Bearer {{ env_var('CRM_TOKEN') }}" }` }).replace(
    `url: "{{ env_var('ACTIVATE_WEBHOOK_URL') }}"`,
    `url: "{{ env_var('ACTIVATE_WEBHOOK_URL') }}?token={{ env_var('CRM_TOKEN') }}"`,
  );
  await project.writeActivateYml(yml);
});

afterEach(async () => {
  await receiver.close();
  await project.cleanup();
});

it('a secret from env_var never reaches stdout, stderr, JSON output, state tables or rejection messages', async () => {
  // A destination that echoes the credentials back in its error bodies.
  receiver.respondWith((d) => ({
    status: d.index % 2 === 0 ? 400 : 500,
    body: `rejected: auth=${d.headers.authorization} path=${d.path} token=${encodeURIComponent(TOKEN)}`,
  }));
  const text = await project.cli('run', '--log-level', 'debug');
  const json = await project.cli('run', '--json', '--log-format', 'json', '--log-level', 'debug');
  expect(text.code).toBe(1);
  expect(json.code).toBe(1);
  expect(receiver.deliveries.length).toBeGreaterThan(0);
  expect(receiver.deliveries[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);

  const rejections = await project.query('SELECT * FROM activate.activate_rejections');
  expect(rejections.length).toBeGreaterThan(0);
  const tables = ['activate_state', 'activate_runs', 'activate_rejections', 'activate_locks', 'activate_syncs', 'activate_meta'];
  const stateText = (await Promise.all(tables.map((t) => project.query(`SELECT * FROM activate.${t}`)))).map((rows) => JSON.stringify(rows)).join('\n');

  const outputs = [text.stdout, text.stderr, json.stdout, json.stderr, stateText];
  for (const output of outputs) {
    expect(output).not.toContain(TOKEN);
    expect(output).not.toContain(encodeURIComponent(TOKEN));
  }
  // The redaction is visible, so users know something was masked.
  expect(stateText).toContain('****');
  expect(JSON.parse(json.stdout).syncs[0].message).toContain('****');
});
