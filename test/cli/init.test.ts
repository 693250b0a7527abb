import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { guessKey } from '../../src/cli/init.js';
import { activateYmlTemplate, activationTemplate, INIT_DESTINATION_TYPES, DEFAULT_DESTINATION_NAMES, requiredEnvVars } from '../../src/cli/init-templates.js';
import { syncSpecsOfModel } from '../../src/config/sync-spec.js';
import { activateConfig, modelWithActivation } from '../unit/helpers.js';

/** What `activate init` writes loads and validates, for every destination it offers and every warehouse. */
describe('activate init templates', () => {
  for (const type of INIT_DESTINATION_TYPES) {
    for (const warehouse of ['duckdb', 'postgres', 'snowflake', 'bigquery', undefined]) {
      it(`activate.yml for a ${type} destination on ${warehouse ?? 'an unknown warehouse'} loads, and its sample activation becomes a sync`, () => {
        const name = DEFAULT_DESTINATION_NAMES[type];
        const text = activateYmlTemplate({ warehouse, destinationType: type, destinationName: name });
        const env = Object.fromEntries(
          requiredEnvVars(type, name).map((v) => [v, type === 'postgres' ? 'postgres://app:pw@127.0.0.1:5432/app' : 'https://hooks.example.com/in']),
        );
        const config = activateConfig(text, env);
        expect([...config.destinations.keys()]).toEqual([name]);
        expect(config.destinations.get(name)!.type).toBe(type);
        expect(config.state.schema).toBe('activate');
        // Every line is either YAML or a comment that says something.
        expect(text).toContain('# ');

        const block = activationTemplate({ model: 'customers', destinationType: type, destinationName: name, primaryKey: ['customer_id'], fields: ['email', 'plan'] });
        const activation = (parseDocument(block).toJS() as { activation: unknown }).activation;
        const problems: string[] = [];
        const [spec] = syncSpecsOfModel(modelWithActivation(activation), config, problems);
        expect(problems).toEqual([]);
        expect(spec).toMatchObject({ id: `customers__${name}`, mode: 'upsert', primaryKey: ['customer_id'], fields: { email: 'email', plan: 'plan' } });
      });
    }
  }

  it('a missing env var is the only thing the webhook template needs', () => {
    const text = activateYmlTemplate({ warehouse: 'duckdb', destinationType: 'webhook', destinationName: 'my_webhook' });
    expect(() => activateConfig(text, {})).toThrow(/environment variable MY_WEBHOOK_URL is not set/);
  });

  it('guesses the primary key from the column names', () => {
    expect(guessKey('customers', ['email', 'customer_id', 'id'])).toEqual(['id']);
    expect(guessKey('customers', ['email', 'customer_id'])).toEqual(['customer_id']);
    expect(guessKey('customer_scores', ['email', 'score_id', 'x'])).toEqual(['score_id']);
    expect(guessKey('dim_accounts', ['name', 'account_id'])).toEqual(['account_id']);
    expect(guessKey('events', ['name', 'user_id'])).toEqual(['user_id']);
    expect(guessKey('events', ['name', 'value'])).toEqual(['name']);
    expect(guessKey('events', [])).toEqual([]);
  });
});
