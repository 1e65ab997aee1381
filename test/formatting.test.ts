// `npm run lint` fails on a line the formatter would write differently: the lint script's own
// `prettier --check` step, run with the project's Prettier settings and ignore file on a copy.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const PRETTIER = join(ROOT, 'node_modules', 'prettier', 'bin', 'prettier.cjs');

/** The lint script's first step, as package.json says it: `prettier --check .`. */
function lintFormatStep(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const step = (scripts.lint ?? '').split('&&')[0]?.trim().split(/\s+/) ?? [];
  return step;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the project's formatter settings with one source file; the check's exit code and output. */
async function check(source: string): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'entitle-format-'));
  dirs.push(dir);
  for (const file of ['.prettierrc.json', '.prettierignore']) copyFileSync(join(ROOT, file), join(dir, file));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'decide.ts'), source);
  const [, ...args] = lintFormatStep();
  try {
    const { stdout, stderr } = await run(process.execPath, [PRETTIER, ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('formatting in npm run lint', () => {
  it('starts the lint script with prettier --check over the whole tree', () => {
    expect(lintFormatStep()).toEqual(['prettier', '--check', '.']);
  });

  it('fails on a badly formatted line and names the file', async () => {
    const result = await check('export const plan = { name : "free",limit:3 }\n');
    expect(result.code).toBe(1);
    expect(result.output).toContain('src/decide.ts');
  }, 60_000);

  it('passes the same code as the formatter writes it (single quotes, 120 columns)', async () => {
    const result = await check("export const plan = { name: 'free', limit: 3 };\n");
    expect(result).toEqual({ code: 0, output: expect.stringContaining('All matched files use Prettier code style!') });
  }, 60_000);
});
