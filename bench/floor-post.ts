/**
 * The HTTP floor, run as its own process: the bodies activate sent (one JSON document per line
 * of a file) POSTed again by a bare undici loop with the same concurrency and a keep-alive
 * Agent, each response read to the end. Prints {"ms": ..., "requests": ...} on stdout.
 *
 *   node dist/bench/floor-post.js <url> <bodies file> <concurrency>
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';

const [url, file, concurrencyText] = process.argv.slice(2);
if (!url || !file || !concurrencyText) throw new Error('usage: floor-post.js <url> <bodies file> <concurrency>');
const concurrency = Number(concurrencyText);
const bodies = (await readFile(file, 'utf8')).split('\n').filter((line) => line.length > 0);

const agent = new Agent({ connections: concurrency });
let next = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < bodies.length; i = next++) {
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: bodies[i]!,
      });
      await response.body.text();
      if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
    }
  }),
);
const ms = performance.now() - started;
await agent.close();
process.stdout.write(JSON.stringify({ ms, requests: bodies.length }) + '\n');
