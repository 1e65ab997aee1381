// One call from policy files to a snapshot or to every issue found: load → validate → compile.

import { compilePolicy } from './compile.js';
import { loadPolicyDirectory, parsePolicyText, type PolicyFile } from './load.js';
import type { PolicyIssue, PolicySnapshot } from './types.js';
import { validateFileSchema, validateSemantics } from './validate.js';

/** A policy read: a snapshot when there was no issue, otherwise every issue, sorted by position. */
export type PolicyReadResult =
  | { readonly ok: true; readonly snapshot: PolicySnapshot; readonly issues: readonly [] }
  | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/**
 * Reads, validates and compiles every policy file of a directory. Never throws for bad
 * content. File names in issues are relative to `relativeTo` (default: the working directory).
 */
export async function readPolicyDirectory(dir: string, relativeTo?: string): Promise<PolicyReadResult> {
  const { files, issues, incomplete } = await loadPolicyDirectory(dir, relativeTo);
  return checkAndCompile(files, issues, incomplete);
}

/** The same for policy text that is not on disk (an editor buffer, an HTTP body). */
export function readPolicyTexts(texts: readonly { readonly file: string; readonly text: string }[]): PolicyReadResult {
  const files: PolicyFile[] = [];
  const issues: PolicyIssue[] = [];
  let incomplete = false;
  for (const { file, text } of texts) {
    const parsed = parsePolicyText(file, text);
    issues.push(...parsed.issues);
    if (parsed.file) files.push(parsed.file);
    incomplete ||= parsed.incomplete;
  }
  return checkAndCompile(files, issues, incomplete);
}

function checkAndCompile(files: readonly PolicyFile[], loadIssues: readonly PolicyIssue[], incomplete: boolean): PolicyReadResult {
  const issues = [...loadIssues];
  for (const file of files) issues.push(...validateFileSchema(file));
  const semantic = validateSemantics(files, { incomplete });
  issues.push(...semantic.issues);
  if (issues.length > 0) return { ok: false, issues: sortIssues(issues) };
  return { ok: true, snapshot: compilePolicy(semantic.merged), issues: [] };
}

/** Formats an issue the way compilers do, so editors and terminals can jump to it. */
export function formatIssue(issue: PolicyIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.message}`;
}

function sortIssues(issues: PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((issue) => {
      const key = formatIssue(issue);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
}
