import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../support/prng.js';
import { startWebhookReceiver, type WebhookReceiver } from '../twins/webhook-receiver.js';
import { makeExampleProject, webhookActivateYml, WEBHOOK_SECRET, type ExampleProject } from '../support/example-project.js';

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const NASTY_VALUES: readonly unknown[] = [
  null, 0, -1, 1e308, true, '', ' ', 'x'.repeat(100_000), '💥 ünïcödé \u0000 \u202e', '{{ env_var("NOPE") }}', '{{ unclosed',
  [], {}, deeplyNested(200), { a: { b: { c: { d: { e: {} } } } } }, ['a', 1, null], '../../../etc/passwd',
];

function deeplyNested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Replaces one value somewhere in a JSON-like tree, chosen at random. */
function mutateTree(value: unknown, random: Random, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 8 || random() < 0.15) return pick(random, NASTY_VALUES);
  if (Array.isArray(value)) {
    if (value.length === 0) return pick(random, NASTY_VALUES);
    const i = Math.floor(random() * value.length);
    return value.map((v, j) => (j === i ? mutateTree(v, random, depth + 1) : v));
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return pick(random, NASTY_VALUES);
  const roll = random();
  if (roll < 0.1) return Object.fromEntries(entries.filter((_, j) => j !== Math.floor(random() * entries.length)));
  if (roll < 0.15) return { ...(value as object), ['unexpected_' + Math.floor(random() * 100)]: pick(random, NASTY_VALUES) };
  const i = Math.floor(random() * entries.length);
  return Object.fromEntries(entries.map(([k, v], j) => [k, j === i ? mutateTree(v, random, depth + 1) : v]));
}

/** Text-level damage: truncation, a stray character, a byte flip, a huge line. */
function mutateText(text: string, random: Random): string {
  const at = Math.floor(random() * text.length);
  switch (Math.floor(random() * 5)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return text.slice(0, at) + pick(random, ['{', '}', '[', ':', '"', "'", '\t', '&', '*', '!', '%', '\n  -']) + text.slice(at);
    case 2:
      return text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ 0x20) + text.slice(at + 1);
    case 3:
      return text.slice(0, at) + '\n' + 'k: ' + 'v'.repeat(50_000) + '\n' + text.slice(at);
    default:
      return text.replace(/:\s/, ': [');
  }
}

const ROUNDS = 300;
let receiver: WebhookReceiver;
let project: ExampleProject;
const originals = new Map<string, string>();

beforeAll(async () => {
  receiver = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
  project = await makeExampleProject({ ACTIVATE_WEBHOOK_URL: receiver.url });
  await project.writeActivateYml(webhookActivateYml());
  for (const file of ['target/manifest.json', 'activate.yml', 'profiles.yml']) {
    originals.set(file, await readFile(join(project.dir, file), 'utf8'));
  }
  // The project is in sync before the fuzzing starts, so a valid mutation has nothing new to send.
  expect((await project.cli('run')).code).toBe(0);
});

afterAll(async () => {
  await receiver.close();
  await project.cleanup();
});

describe(`bad input fuzzing (${ROUNDS} seeded mutations)`, () => {
  it('never crashes with a stack trace; bad input exits 2 with a message and sends nothing', async () => {
    const random = prng(7);
    const outcomes = { rejected: 0, accepted: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const file = pick(random, [...originals.keys()]);
      const original = originals.get(file)!;
      let mutated: string;
      if (file.endsWith('.json') && random() < 0.7) mutated = JSON.stringify(mutateTree(JSON.parse(original), random));
      else if (file.endsWith('.yml') && random() < 0.5) {
        const { parse, stringify } = await import('yaml');
        mutated = stringify(mutateTree(parse(original), random));
      } else mutated = mutateText(original, random);
      await writeFile(join(project.dir, file), mutated);

      const before = receiver.deliveries.length;
      const run = await project.cli('run');
      const context = `round ${round}, ${file}: exit ${run.code}\n${run.stderr.slice(0, 2000)}`;
      expect(run.stderr, context).not.toMatch(/Internal error|\n\s+at .+\(.+:\d+:\d+\)/);
      expect([0, 1, 2], context).toContain(run.code);
      if (run.code === 2) {
        outcomes.rejected++;
        expect(run.stderr.trim().length, context).toBeGreaterThan(0);
        expect(receiver.deliveries.length, context).toBe(before);
      } else {
        outcomes.accepted++;
      }
      await writeFile(join(project.dir, file), original);
      // A mutation may have changed what is mapped (a valid edit); resynchronise before the next round.
      if (receiver.deliveries.length !== before || run.code !== 2) await project.cli('run', '--allow-large-changes');
    }
    // Most mutations are invalid input; some are harmless edits (a description, a comment).
    expect(outcomes.rejected).toBeGreaterThan(ROUNDS / 2);
  }, 240_000);
});
