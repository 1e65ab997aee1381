// YAML parse errors as policy issues: where the library's position is not where a person would
// look (a duplicate key, an unclosed quote), point at the place that explains it.

import {
  isPair,
  isScalar,
  visit,
  YAMLParseError,
  type Document,
  type LineCounter,
  type Pair,
  type YAMLError,
} from 'yaml';
import type { PolicyIssue } from './types.js';

/**
 * The library's DUPLICATE_KEY errors (uniqueKeys: true), found with one set per map instead of a
 * comparison with every earlier key: the same rule (scalar keys with equal values), the same
 * error at the same offset (the repeated key's), in position order among the other errors.
 */
export function addDuplicateKeyErrors(document: Document.Parsed): Document.Parsed {
  const found: YAMLParseError[] = [];
  visit(document, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items as Pair[]) {
        const key = pair.key;
        // NaN equals no key under the library's ===; a key without a range cannot be parsed text.
        if (!isScalar(key) || Number.isNaN(key.value) || key.range === undefined || key.range === null) continue;
        if (seen.has(key.value)) {
          const offset = key.range[0];
          found.push(new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
        } else seen.add(key.value);
      }
    },
  });
  for (const error of found) {
    const at = document.errors.findIndex((other) => other.pos[0] > error.pos[0]);
    document.errors.splice(at === -1 ? document.errors.length : at, 0, error);
  }
  return document;
}

/** Every YAML error and warning of a parsed file, as issues with positions and useful messages. */
export function yamlIssues(file: string, document: Document.Parsed, lineCounter: LineCounter): PolicyIssue[] {
  const problems = [...document.errors, ...document.warnings];
  if (problems.length === 0) return [];
  // One walk of the document, however many errors: a broken file can have thousands.
  const nodes = indexNodes(document);
  return problems.map((error) => yamlIssue(file, lineCounter, nodes, error));
}

interface DuplicateKey {
  readonly key: string;
  /** Keys of the maps holding it, outermost first. */
  readonly parents: readonly string[];
  readonly firstOffset: number;
}

interface NodeIndex {
  /** By the offset of a key seen before in the same map. */
  readonly duplicateKeys: ReadonlyMap<number, DuplicateKey>;
  /** Where each quoted scalar starts, by the offset where it ends. */
  readonly quotedByEnd: ReadonlyMap<number, number>;
}

function yamlIssue(file: string, lineCounter: LineCounter, nodes: NodeIndex, error: YAMLError): PolicyIssue {
  const offset = error.pos[0];
  const message = error.message.split('\n')[0] ?? error.message;
  if (error.code === 'DUPLICATE_KEY') {
    const { line, col } = lineCounter.linePos(offset);
    const duplicate = nodes.duplicateKeys.get(offset);
    if (!duplicate) return { file, line, column: col, message: `YAML duplicate key: ${message}` };
    const first = lineCounter.linePos(duplicate.firstOffset);
    const where = duplicate.parents.length > 0 ? ` in ${duplicate.parents.join('.')}` : '';
    return {
      file,
      line,
      column: col,
      message: `YAML duplicate key "${duplicate.key}"${where}: already defined at ${file}:${first.line}:${first.col}`,
    };
  }
  // The library reports an unclosed quote where the text ends; the quote that opened it is the
  // place to fix, and can be many lines earlier.
  const opened = error.code === 'MISSING_CHAR' && message.includes('quote') ? nodes.quotedByEnd.get(offset) : undefined;
  const { line, col } = lineCounter.linePos(opened ?? offset);
  const suffix = opened !== undefined ? ' (the quoted value that starts here is never closed)' : '';
  return { file, line, column: col, message: `YAML syntax error: ${message}${suffix}` };
}

function indexNodes(document: Document.Parsed): NodeIndex {
  const duplicateKeys = new Map<number, DuplicateKey>();
  const quotedByEnd = new Map<number, number>();
  visit(document, {
    Map(_, map, path) {
      const firstByKey = new Map<string, number>();
      for (const pair of map.items as Pair[]) {
        const offset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
        if (offset === undefined || !isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        const firstOffset = firstByKey.get(key);
        if (firstOffset === undefined) {
          firstByKey.set(key, offset);
          continue;
        }
        const parents = [...path, map]
          .filter(isPair)
          .map((parent) => (isScalar(parent.key) ? String(parent.key.value) : '?'));
        duplicateKeys.set(offset, { key, parents, firstOffset });
      }
    },
    Scalar(_, scalar) {
      if ((scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE') && scalar.range)
        quotedByEnd.set(scalar.range[1], scalar.range[0]);
    },
  });
  return { duplicateKeys, quotedByEnd };
}
