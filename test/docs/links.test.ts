// The README is the front door and docs/*.md the reference: every relative link and anchor between
// them must resolve, every docs page must be reachable from the README's map, and the README must
// stay small. Pages are discovered, not listed, so a new page is checked the moment it exists.
// A small hand-written scanner rather than a Markdown parser: the docs use plain inline links and
// ATX headings only, and this test should not add dependencies to the service.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(new URL('../../', import.meta.url).pathname);
const README = join(ROOT, 'README.md');
const DOCS = join(ROOT, 'docs');
const README_MAX_BYTES = 8_500;

const docPages = (): string[] =>
  readdirSync(DOCS)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join(DOCS, name));

/** The lines outside fenced code blocks (links and headings there are examples). */
function proseLines(text: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (marker && (fence === undefined || fence === marker)) {
      fence = fence === undefined ? marker : undefined;
      continue;
    }
    if (fence === undefined) lines.push(line);
  }
  return lines;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Inline links `[text](target)` and images, outside code. */
function linkTargets(text: string): string[] {
  const targets: string[] = [];
  // Inline code is an example too: `[b](b.md)` is not a link.
  for (const line of proseLines(text).map((prose) => prose.replace(/`[^`]*`/g, ''))) {
    for (const match of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (match[1] !== undefined) targets.push(match[1]);
    }
  }
  return targets;
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** Every problem with the relative links of one Markdown file, as readable strings. */
function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  const where = relative(ROOT, file);
  for (const target of linkTargets(readFileSync(file, 'utf8'))) {
    if (isExternal(target)) continue;
    const [pathPart = '', anchor] = target.split('#', 2);
    const destination = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
    if (!destination.startsWith(ROOT) || !existsSync(destination)) {
      problems.push(`${where}: ${target} → no such file`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!destination.endsWith('.md') || statSync(destination).isDirectory()) {
      problems.push(`${where}: ${target} → an anchor into a file that is not Markdown`);
      continue;
    }
    if (!headingAnchors(readFileSync(destination, 'utf8')).has(decodeURIComponent(anchor).toLowerCase())) {
      problems.push(`${where}: ${target} → no heading "#${anchor}" in ${relative(ROOT, destination)}`);
    }
  }
  return problems;
}

describe('README and docs/', () => {
  it('keeps the README a front door: under 8,500 bytes', () => {
    expect(statSync(README).size).toBeLessThan(README_MAX_BYTES);
  });

  it('has no broken relative link or anchor in README.md or any docs/*.md page', () => {
    const files = [README, ...docPages()];
    expect(files.length).toBeGreaterThan(1);
    expect(files.flatMap(brokenLinks)).toEqual([]);
  });

  it('links every docs page from the README', () => {
    const linked = new Set(
      linkTargets(readFileSync(README, 'utf8'))
        .filter((target) => !isExternal(target))
        .map((target) => resolve(ROOT, decodeURIComponent(target.split('#')[0] ?? ''))),
    );
    const unlinked = docPages()
      .filter((page) => !linked.has(page))
      .map((page) => relative(ROOT, page));
    expect(unlinked).toEqual([]);
  });

  it('gives every docs page a title', () => {
    const untitled = docPages()
      .filter((page) => !/^# \S/.test(readFileSync(page, 'utf8')))
      .map((page) => relative(ROOT, page));
    expect(untitled).toEqual([]);
  });
});

describe('the link checker itself', () => {
  it('slugs headings the way GitHub does', () => {
    const anchors = headingAnchors(
      '# Store and scale-out\n## PostgreSQL: several instances\n## Key rotation and running servers\n```\n# not a heading\n```\n## Outages\n## Outages\n',
    );
    expect([...anchors]).toEqual([
      'store-and-scale-out',
      'postgresql-several-instances',
      'key-rotation-and-running-servers',
      'outages',
      'outages-1',
    ]);
  });

  it('finds links outside code only', () => {
    expect(linkTargets('See [a](a.md#x) and `[b](b.md)`.\n```\n[c](c.md)\n```\n[d](https://example.org)')).toEqual([
      'a.md#x',
      'https://example.org',
    ]);
  });
});
