// `npm run bench`: every figure with its ratio against a peer measured in the same run.
// Prints a table and writes bench/results.json (not tracked).

import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { benchDecisions } from './decisions.js';
import { benchHttp } from './http.js';
import { benchMemory } from './memory.js';
import { benchPolicy } from './policy.js';
import { benchPort } from './port.js';
import { benchScale } from './scale.js';
import { benchShipped } from './shipped.js';
import { benchStore } from './store.js';
import { benchUsage } from './usage.js';
import { benchStreams } from './streams.js';
import { benchWebhooks } from './webhooks.js';
import { benchWrites } from './writes.js';
import type { Row } from './support/measure.js';

const sections: [string, (rows: Row[]) => Promise<void>][] = [
  ['decisions', benchDecisions],
  ['http', benchHttp],
  ['shipped', benchShipped],
  ['writes', benchWrites],
  ['store', benchStore],
  ['port', benchPort],
  ['usage', benchUsage],
  ['policy', benchPolicy],
  ['memory', benchMemory],
  ['streams', benchStreams],
  ['webhooks', benchWebhooks],
  ['scale', benchScale],
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const rows: Row[] = [];
  const started = Date.now();
  for (const [name, run] of sections) {
    if (only.length > 0 && !only.includes(name)) continue;
    process.stderr.write(`bench: ${name}…\n`);
    await run(rows);
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}`;
  print(rows, machine);
  writeFileSync(
    new URL('./results.json', import.meta.url),
    JSON.stringify({ at: new Date().toISOString(), machine, seconds: (Date.now() - started) / 1000, rows }, null, 2),
  );
}

function print(rows: Row[], machine: string): void {
  console.log(`\nEntitle benchmarks — ${machine}\n`);
  let section = '';
  const width = Math.max(...rows.map((row) => row.name.length));
  for (const row of rows) {
    if (row.section !== section) {
      section = row.section;
      console.log(`\n${section}`);
    }
    const verdict = row.target ? ` target ${row.target}: ${row.met ? 'met' : 'NOT met'}` : '';
    const against = row.ratio ? `  ${row.ratio} vs ${row.peer}` : '';
    console.log(`  ${row.name.padEnd(width)}  ${row.value.padStart(14)}${against}${verdict}`);
  }
  console.log('');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
