// One call from policy files to a snapshot or to every issue found: load → validate → compile.

import { compilePolicy } from './compile.js';
import { loadPolicyDirectory, parsePolicyText, positionOf, type PolicyFile } from './load.js';
import { planVersionSources } from './plan-versions.js';
import type { PlanSpec, PolicyIssue, PolicySnapshot, SourcePosition } from './types.js';
import { validateFileSchema, validateSemantics, type PolicyEntries, type PolicyEntry } from './validate.js';

/** A policy read: a snapshot when there was no issue, otherwise every issue, sorted by position. */
export type PolicyReadResult =
  | { readonly ok: true; readonly snapshot: PolicySnapshot; readonly issues: readonly [] }
  | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/**
 * A policy checked but not compiled: its entries as plain data (what a worker thread sends back;
 * compiling them is cheap next to parsing the YAML), or every issue.
 */
export type PolicyCheckResult =
  | { readonly ok: true; readonly entries: PolicyEntries }
  | { readonly ok: false; readonly issues: readonly PolicyIssue[] };

/** Reads and validates a directory without compiling (the worker thread's half). */
export async function checkPolicyDirectory(dir: string, relativeTo?: string): Promise<PolicyCheckResult> {
  const { files, issues, incomplete } = await loadPolicyDirectory(dir, relativeTo);
  return check(files, issues, incomplete);
}

/** The same for policy text that is not on disk. */
export function checkPolicyTexts(
  texts: readonly { readonly file: string; readonly text: string }[],
): PolicyCheckResult {
  const files: PolicyFile[] = [];
  const issues: PolicyIssue[] = [];
  let incomplete = false;
  for (const { file, text } of texts) {
    const parsed = parsePolicyText(file, text);
    issues.push(...parsed.issues);
    if (parsed.file) files.push(parsed.file);
    incomplete ||= parsed.incomplete;
  }
  return check(files, issues, incomplete);
}

/** A checked policy compiled: a snapshot, or its issues. */
export function compileChecked(result: PolicyCheckResult): PolicyReadResult {
  return result.ok ? { ok: true, snapshot: compilePolicy(result.entries), issues: [] } : result;
}

/**
 * Reads, validates and compiles every policy file of a directory. Never throws for bad
 * content. File names in issues are relative to `relativeTo` (default: the working directory).
 */
export async function readPolicyDirectory(dir: string, relativeTo?: string): Promise<PolicyReadResult> {
  return compileChecked(await checkPolicyDirectory(dir, relativeTo));
}

/** The same for policy text that is not on disk (an editor buffer, an HTTP body). */
export function readPolicyTexts(texts: readonly { readonly file: string; readonly text: string }[]): PolicyReadResult {
  return compileChecked(checkPolicyTexts(texts));
}

function check(
  files: readonly PolicyFile[],
  loadIssues: readonly PolicyIssue[],
  incomplete: boolean,
): PolicyCheckResult {
  const issues = [...loadIssues];
  for (const file of files) issues.push(...validateFileSchema(file));
  const semantic = validateSemantics(files, { incomplete });
  issues.push(...semantic.issues);
  if (issues.length > 0) return { ok: false, issues: sortIssues(issues) };
  // Only keys and specs: plain data that crosses a thread boundary (the parsed documents stay behind).
  const plain = ({ key, spec, file }: PolicyEntry<Record<string, unknown>>) => ({
    key,
    spec,
    file: { file: file.file },
  });
  const { billing } = semantic.merged;
  return {
    ok: true,
    entries: {
      features: semantic.merged.features.map(plain),
      plans: semantic.merged.plans.map((entry) => ({ ...plain(entry), positions: planPositions(entry) })),
      addons: semantic.merged.addons.map(plain),
      ...(billing ? { billing: plain(billing) } : {}),
    },
  };
}

/** Where a plan's versions and their own values stand (see `PolicyEntries`). */
function planPositions({ key, spec, file }: PolicyEntry<Record<string, unknown>>): Record<string, SourcePosition> {
  const positions: Record<string, SourcePosition> = {};
  for (const source of planVersionSources(spec as PlanSpec)) {
    const at = source.path.length > 1 ? ['plans', key, ...source.path.slice(0, -1)] : ['plans', key];
    positions[String(source.version)] = positionOf(file, at, 'key');
    for (const feature of Object.keys(source.features))
      positions[`${source.version}:${feature}`] = positionOf(file, ['plans', key, ...source.path, feature]);
  }
  return positions;
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
