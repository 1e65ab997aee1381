// The authority model for usage is one table (src/usage/usage-authority.ts): every page that
// prints it prints the same words, and pages that list the roles name all of them.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { authorityRows } from '../../src/usage/usage-authority.js';
import { ROLES } from '../../src/store/store.js';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const MARKER = '<!-- usage-authority:';

/** The cells of the Markdown table after the marker (its separator row left out). */
function tableAfterMarker(text: string): string[][] {
  const lines = text.slice(text.indexOf(MARKER)).split('\n').slice(1);
  const start = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('|')) break;
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim());
    if (cells.every((cell) => /^:?-+:?$/.test(cell))) continue;
    rows.push(cells);
  }
  return rows;
}

describe('the usage authority table in the docs', () => {
  for (const page of ['metered-usage.md', 'authentication.md']) {
    it(`${page} prints the table of usage-authority.ts, word for word`, () => {
      const text = readFileSync(`${DOCS}${page}`, 'utf8');
      expect(text).toContain(MARKER);
      expect(tableAfterMarker(text)).toEqual(authorityRows());
    });
  }

  it('every page that lists the roles a token may have names all of them', () => {
    const stale: string[] = [];
    for (const page of readdirSync(DOCS).filter((name) => name.endsWith('.md'))) {
      for (const line of readFileSync(`${DOCS}${page}`, 'utf8').split('\n')) {
        if (/--role [a-z]+(\|[a-z]+)+/.test(line) && !ROLES.every((role) => line.includes(role)))
          stale.push(`${page}: ${line}`);
      }
    }
    expect(stale).toEqual([]);
  });
});
