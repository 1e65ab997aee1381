// Reads policy files as YAML documents that remember where every node stands.

import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { PolicyIssue, SourcePosition } from './types.js';
import { addDuplicateKeyErrors, yamlIssues } from './yaml-errors.js';

/** A parsed policy file: its plain content plus what is needed to point at any part of it. */
export interface PolicyFile {
  /** The name used in messages: relative to the working directory when that is shorter. */
  readonly file: string;
  readonly document: Document.Parsed;
  readonly lineCounter: LineCounter;
  /** The document as plain data (undefined when the file has no content). */
  readonly content: unknown;
}

/** What loading a directory found: the files that parsed and every problem on the way. */
export interface LoadResult {
  readonly files: PolicyFile[];
  readonly issues: PolicyIssue[];
  /**
   * Whether some file's content is unknown (unreadable, or not parsed): a reference from another
   * file may name what it defines, so such references cannot be checked.
   */
  readonly incomplete: boolean;
}

/** One file's text parsed: the file when it parsed, its issues, and whether its content is unknown. */
export interface ParseResult {
  readonly file?: PolicyFile;
  readonly issues: PolicyIssue[];
  /** True when the file has content that could not be read as YAML (see {@link LoadResult.incomplete}). */
  readonly incomplete: boolean;
}

/** A path into a document: map keys and sequence indexes. */
export type DocumentPath = readonly (string | number)[];

const POLICY_FILE = /\.ya?ml$/i;

/** Chooses a short, stable name for a file in messages. */
export function displayName(path: string, relativeTo: string = process.cwd()): string {
  const rel = relative(relativeTo, path);
  return rel.length > 0 && !rel.startsWith('..') ? rel : path;
}

/** Lists the policy files of a directory in load order (by name). */
export async function listPolicyFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && POLICY_FILE.test(entry.name))
    .map((entry) => join(dir, entry.name))
    .sort();
}

/**
 * Parses one file's text. YAML syntax problems (including duplicate keys) come back as
 * issues with positions; a file that is empty or not text is an issue too.
 */
export function parsePolicyText(file: string, text: string): ParseResult {
  if (text.includes('\u0000')) {
    return {
      issues: [{ file, line: 1, column: 1, message: 'not a text file (contains NUL bytes)' }],
      incomplete: true,
    };
  }
  const lineCounter = new LineCounter();
  // Duplicate keys are found by addDuplicateKeyErrors in one pass: the library's own check
  // (uniqueKeys: true) compares each key with every earlier one of its map, seconds for a big file.
  const document = addDuplicateKeyErrors(parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false }));
  const issues = yamlIssues(file, document, lineCounter);
  // Even a document with only a duplicate key is not a reliable list of what the file defines
  // (a second `features:` hides the first), so any error makes its content unknown.
  if (document.errors.length > 0) return { issues, incomplete: true };
  let content: unknown;
  try {
    content = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // An alias without its anchor, or an alias bomb: the yaml library refuses to expand it.
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { issues: [...issues, { file, line: 1, column: 1, message: `YAML error: ${message}` }], incomplete: true };
  }
  if (content === null || content === undefined) {
    issues.push({ file, line: 1, column: 1, message: 'the file is empty: a policy file needs "features" or "plans"' });
    return { issues, incomplete: false };
  }
  return { file: { file, document, lineCounter, content }, issues, incomplete: false };
}

/** Reads and parses every policy file of a directory. Never throws for bad content. */
export async function loadPolicyDirectory(dir: string, relativeTo?: string): Promise<LoadResult> {
  const name = displayName(dir, relativeTo);
  let paths: string[];
  try {
    paths = await listPolicyFiles(dir);
  } catch (error) {
    return {
      files: [],
      issues: [{ file: name, line: 1, column: 1, message: `cannot read policy directory: ${describeFsError(error)}` }],
      incomplete: true,
    };
  }
  if (paths.length === 0) {
    return {
      files: [],
      issues: [{ file: name, line: 1, column: 1, message: 'no policy files (*.yaml) in this directory' }],
      incomplete: false,
    };
  }
  const files: PolicyFile[] = [];
  const issues: PolicyIssue[] = [];
  let incomplete = false;
  for (const path of paths) {
    const file = displayName(path, relativeTo);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      // A file deleted between listing and reading is a real outcome during hot reload.
      issues.push({ file, line: 1, column: 1, message: `cannot read file: ${describeFsError(error)}` });
      incomplete = true;
      continue;
    }
    const parsed = parsePolicyText(file, text);
    issues.push(...parsed.issues);
    if (parsed.file) files.push(parsed.file);
    incomplete ||= parsed.incomplete;
  }
  return { files, issues, incomplete };
}

/**
 * Finds the position of a node in a file. With `at: 'key'` the position of the map key
 * holding the node; the nearest existing ancestor when the path does not exist.
 */
export function positionOf(policyFile: PolicyFile, path: DocumentPath, at: 'key' | 'value' = 'value'): SourcePosition {
  const { document, lineCounter, file } = policyFile;
  let node: unknown = document.contents;
  let keyNode: Node | undefined;
  for (const segment of path) {
    let next: unknown;
    let nextKey: Node | undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      nextKey = pair.key as Node;
      next = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment];
    }
    if (next === undefined || next === null) break;
    node = next;
    keyNode = nextKey;
  }
  const target = at === 'key' && keyNode ? keyNode : (node as Node | null);
  const offset = target?.range?.[0] ?? 0;
  const { line, col } = lineCounter.linePos(offset);
  return { file, line, column: col };
}

function describeFsError(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error) {
    const code = String((error as { code: unknown }).code);
    if (code === 'ENOENT') return 'no such file or directory';
    if (code === 'EACCES') return 'permission denied';
    if (code === 'ENOTDIR') return 'not a directory';
    if (code === 'EISDIR') return 'is a directory';
    return code;
  }
  return 'unknown error';
}
