import { describe, expect, it } from 'vitest';
import { syncSpecsOfModel, type SyncSpec } from '../../src/config/sync-spec.js';
import { selectSyncs } from '../../src/project/select.js';
import { WEBHOOKS_YAML, activateConfig, manifestOf, recordingLogger } from './helpers.js';

const sync = (destination: string, extra: Record<string, unknown> = {}) => ({
  destination,
  primary_key: 'id',
  fields: { email: 'email' },
  ...extra,
});

const manifest = manifestOf([
  { name: 'customers', tags: ['crm', 'daily'], configMeta: { activation: [sync('hook'), sync('crm_webhook', { name: 'crm_contacts' })] } },
  { name: 'orders', tags: ['daily'], configMeta: { activation: sync('hook') } },
  { name: 'leads', configMeta: { activation: sync('crm_webhook') } },
  { name: 'no_sync_model', tags: ['daily'] },
]);
const config = activateConfig(WEBHOOKS_YAML);
const problems: string[] = [];
const syncs: SyncSpec[] = manifest.models.flatMap((m) => syncSpecsOfModel(m, config, problems));

function select(selectArg: string[] | undefined, exclude?: string[]) {
  const log = recordingLogger();
  const ids = selectSyncs(syncs, manifest, selectArg, exclude, log).map((s) => s.id);
  return { ids, warnings: log.lines.filter((l) => l.level === 'warn').map((l) => l.message), lines: log.lines };
}

describe('selectSyncs', () => {
  it('has the syncs the tests expect', () => {
    expect(problems).toEqual([]);
    expect(syncs.map((s) => s.id)).toEqual(['customers__hook', 'crm_contacts', 'orders__hook', 'leads__crm_webhook']);
  });

  it('selects everything when no --select is given', () => {
    expect(select(undefined)).toEqual({ ids: syncs.map((s) => s.id), warnings: [], lines: [] });
    expect(select([]).ids).toEqual(syncs.map((s) => s.id));
  });

  it('selects by model name (all of its syncs)', () => {
    expect(select(['customers'])).toMatchObject({ ids: ['customers__hook', 'crm_contacts'], warnings: [] });
  });

  it('selects by sync id, default or given by name:', () => {
    expect(select(['orders__hook']).ids).toEqual(['orders__hook']);
    expect(select(['crm_contacts']).ids).toEqual(['crm_contacts']);
  });

  it('selects by model unique_id', () => {
    expect(select(['model.shop.leads']).ids).toEqual(['leads__crm_webhook']);
  });

  it('selects by tag:', () => {
    expect(select(['tag:daily']).ids).toEqual(['customers__hook', 'crm_contacts', 'orders__hook']);
    expect(select(['tag:crm']).ids).toEqual(['customers__hook', 'crm_contacts']);
  });

  it('unions space-separated terms and repeated values, without duplicates, in project order', () => {
    expect(select(['leads orders']).ids).toEqual(['orders__hook', 'leads__crm_webhook']);
    expect(select(['leads', 'orders']).ids).toEqual(['orders__hook', 'leads__crm_webhook']);
    expect(select(['customers', 'tag:crm', 'crm_contacts', '  customers  ']).ids).toEqual(['customers__hook', 'crm_contacts']);
  });

  it('subtracts --exclude', () => {
    expect(select(['tag:daily'], ['crm_contacts']).ids).toEqual(['customers__hook', 'orders__hook']);
    expect(select(undefined, ['tag:crm']).ids).toEqual(['orders__hook', 'leads__crm_webhook']);
    expect(select(undefined, ['customers orders']).ids).toEqual(['leads__crm_webhook']);
    expect(select(['orders'], ['orders']).ids).toEqual([]);
  });

  it('warns about a selector that matches nothing, with a did-you-mean, and selects nothing for it', () => {
    const { ids, warnings } = select(['custmers']);
    expect(ids).toEqual([]);
    expect(warnings).toEqual(['The selection criterion "custmers" does not match any sync (did you mean "customers"?)']);
  });

  it('suggests sync ids too, and keeps the terms that matched', () => {
    const { ids, warnings } = select(['orders', 'crm_contcts']);
    expect(ids).toEqual(['orders__hook']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"crm_contcts"');
    expect(warnings[0]).toContain('(did you mean "crm_contacts"?)');
  });

  it('warns without a suggestion when nothing is close, and for --exclude as well', () => {
    const { ids, warnings } = select(undefined, ['tag:nightly', 'zzzzzzzz']);
    expect(ids).toEqual(syncs.map((s) => s.id));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('"tag:nightly" does not match any sync');
    expect(warnings[1]).toBe('The selection criterion "zzzzzzzz" does not match any sync');
  });

  it('a model without syncs is not selectable', () => {
    const { ids, warnings } = select(['no_sync_model']);
    expect(ids).toEqual([]);
    expect(warnings).toHaveLength(1);
  });
});
