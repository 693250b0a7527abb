/**
 * dbt's rules for an exposures YAML file, written down from dbt itself so tests can hold the
 * output of `activate exposures` against them without dbt installed:
 * - dbt 1.10+ / Fusion: `ExposureProperties` in dbt-core's core/dbt/jsonschemas/resources/latest.json
 *   (required name/owner/type; `meta`/`tags` only under `config`; no other keys);
 * - dbt 1.3-1.9: `UnparsedExposure` (core/dbt/contracts/graph/unparsed.py): `meta`/`tags` at the
 *   top level, `config` knows `enabled`; owner.email required before 1.5.
 * Plus the rules every version applies: name `[A-Za-z0-9_]+` (dbt warns on anything but
 * `[\w-]+`), type and maturity enums, unique names, depends_on entries that dbt renders as
 * `ref(...)` calls.
 */
import { z } from 'zod';

const exposureType = z.enum(['dashboard', 'notebook', 'analysis', 'ml', 'application']);
const maturity = z.enum(['low', 'medium', 'high']).nullish();
const ownerNew = z
  .strictObject({ name: z.string().nullish(), email: z.union([z.string(), z.array(z.string())]).nullish() })
  .refine((o) => !!o.name || !!o.email, "Exposure owner must have at least one of 'name' or 'email'");
const ownerOld = z.strictObject({ name: z.string().nullish(), email: z.string().min(1) });
const meta = z.record(z.string(), z.unknown());
const tags = z.union([z.string(), z.array(z.string())]);

const common = {
  name: z.string().regex(/^[A-Za-z0-9_]+$/, 'must be letters, digits and underscores'),
  label: z.string().nullish(),
  type: exposureType,
  maturity,
  url: z.url().nullish(),
  description: z.string().nullish(),
  depends_on: z.array(z.string().regex(/^ref\('[A-Za-z0-9_]+'(, '[A-Za-z0-9_]+')?(, v=\d+)?\)$/, "must be a ref('model') call")).nullish(),
};

/** dbt 1.10+ (and Fusion's JSON schema): meta and tags only under config. */
const exposure110 = z.strictObject({
  ...common,
  owner: ownerNew,
  config: z.strictObject({ enabled: z.boolean().nullish(), meta: meta.nullish(), tags: tags.nullish() }).nullish(),
});

/** dbt 1.3 to 1.9: meta and tags at the top level. */
const exposureOld = (ownerEmailRequired: boolean) =>
  z.strictObject({
    ...common,
    owner: ownerEmailRequired ? ownerOld : ownerNew,
    meta: meta.nullish(),
    tags: tags.nullish(),
    config: z.strictObject({ enabled: z.boolean().nullish() }).nullish(),
  });

/** Every way `file` (a parsed properties YAML) breaks dbt's exposure rules for that dbt version; empty when none. */
export function exposureRuleProblems(file: unknown, dbtVersion: { major: number; minor: number }): string[] {
  const problems: string[] = [];
  const exposures = (file as { exposures?: unknown } | null)?.exposures;
  if (!Array.isArray(exposures)) return ['exposures: must be a list'];
  const newer = dbtVersion.major > 1 || dbtVersion.minor >= 10;
  const schema = newer ? exposure110 : exposureOld(dbtVersion.major === 1 && dbtVersion.minor < 5);
  const names = new Set<string>();
  exposures.forEach((exposure, i) => {
    const parsed = schema.safeParse(exposure);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`exposures[${i}].${issue.path.join('.')}: ${issue.message}`);
    }
    const name = (exposure as { name?: unknown }).name;
    if (typeof name === 'string') {
      if (names.has(name)) problems.push(`exposures[${i}].name: "${name}" is not unique`);
      names.add(name);
    }
  });
  return problems;
}
